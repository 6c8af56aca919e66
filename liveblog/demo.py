"""The demo blog that `liveblog serve --demo` creates on first start with an empty store.

Plain data only: the updates are listed oldest first, and the caller publishes them in order.
"""

from __future__ import annotations

from typing import Any

DEMO_SLUG = "russia-ukraine"
DEMO_TITLE = "Russia-Ukraine latest"
DEMO_DESCRIPTION = "Follow the UN Secretary-General's diplomatic trip to Moscow and Kyiv as it happens."

DEMO_UPDATES: list[dict[str, Any]] = [
    {
        "title": "Guterres heads to Moscow for talks with Putin",
        "body": (
            "UN Secretary-General **Antonio Guterres** travels to Moscow on Tuesday, where "
            "President Vladimir Putin is due to receive him.\n\n"
            "The visit also includes a working meeting over lunch with Foreign Minister "
            "Sergey Lavrov. The aim, according to the UN, is to reduce the harm to civilians "
            "and move towards an end to the fighting in Ukraine."
        ),
        "key_event": True,
        "pinned": False,
    },
    {
        "title": "UN spokeswoman sets out the agenda",
        "body": (
            "Speaking to journalists in New York, UN spokeswoman **Eri Kaneko** said the "
            "Secretary-General wants to explore steps that could be taken immediately "
            '"in order to silence the guns".\n\n'
            "She added that the talks would also cover safe passage for people trying to "
            "leave the fighting."
        ),
        "key_event": False,
        "pinned": False,
    },
    {
        "title": None,
        "body": (
            "The Kremlin has confirmed the arrangements. Spokesman **Dmitry Peskov** gave the "
            "same details of the meeting as the UN."
        ),
        "key_event": False,
        "pinned": False,
    },
    {
        "title": "Next stop: Kyiv on April 28",
        "body": (
            "After Moscow, Mr Guterres goes on to the Ukrainian capital. His spokesman said he "
            "will sit down with President **Volodymyr Zelenskyy** in Kyiv on **April 28**."
        ),
        "key_event": True,
        "pinned": False,
    },
    {
        "title": "Background: a largely silent UN",
        "body": (
            "Since Russian forces crossed into Ukraine on February 24, the UN has had little "
            "role in the crisis. Mr Putin stopped answering the Secretary-General's calls "
            "after Mr Guterres said the invasion breached the UN charter.\n\n"
            "His recent appeal for a four-day Orthodox Easter truce, made beside the "
            "*Knotted Gun* peace sculpture in New York, went largely unheeded: within hours "
            "Moscow said it had taken all of Mariupol. A Russian diplomat at the UN described "
            'himself as "sceptical" about the truce call.\n\n'
            "Attempts to open humanitarian corridors out of shelled cities have also achieved "
            "little so far, and UN officials complain that Moscow has given their peace efforts "
            "low priority."
        ),
        "key_event": False,
        "pinned": False,
    },
    {
        "title": "What we know",
        "body": (
            "- **Tuesday:** Guterres meets Putin in Moscow, plus a working lunch with Lavrov.\n"
            "- **April 28:** Guterres meets Zelenskyy in Kyiv.\n"
            "- **Goal:** ease civilians' suffering, safe passage, steps towards a ceasefire.\n\n"
            "Official statements are published on the [United Nations website](https://www.un.org)."
        ),
        "key_event": False,
        "pinned": True,
    },
]
