// A polite status region for what happens outside the live list (held updates, "Link copied").

export function setupAnnouncer() {
  if (document.getElementById('announcer')) return;
  const region = document.createElement('div');
  region.className = 'visually-hidden';
  region.id = 'announcer';
  region.setAttribute('role', 'status');
  document.body.append(region);
}

/** Say `message` through the region. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = ''; // the same message twice is read twice
  setTimeout(() => { region.textContent = message; }, 50);
}
