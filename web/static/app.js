// Pillbox dashboard: refresh the live part every 3 seconds when it changed (unless the caregiver is
// typing in it), and drive the virtual dispenser on mock hardware. No external resources.
(function () {
  "use strict";
  const live = document.getElementById("live");
  const csrf = document.querySelector('meta[name="csrf-token"]');
  let last = null;

  function busy() {
    const el = document.activeElement;
    return live && el && live.contains(el) && (el.tagName === "INPUT" || el.tagName === "SELECT") && el.value !== "";
  }

  async function refresh() {
    if (!live || busy()) return;
    try {
      const response = await fetch(live.dataset.src, { credentials: "same-origin", cache: "no-store" });
      if (response.redirected || !response.ok) return;
      const hash = response.headers.get("X-Content-Hash");
      const html = await response.text();
      if (hash !== last) {
        last = hash;
        live.innerHTML = html;
      }
    } catch (e) {
      /* the device may be restarting; try again at the next tick */
    }
  }

  document.addEventListener("click", async function (event) {
    const button = event.target.closest("[data-mock]");
    if (!button) return;
    event.preventDefault();
    await fetch("/api/v1/mock/" + button.dataset.mock, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.content : "" },
    });
    setTimeout(refresh, 300);
  });

  if (live) {
    setInterval(refresh, 3000);
  }
})();
