// Applies the user's colour theme before the first paint, so a dark page never flashes
// white: the choice kept in localStorage ("avesa.theme": "light" or "dark"; absent or
// anything else follows the OS). Loaded by index.html ahead of the stylesheet, as a file
// because the server's Content-Security-Policy allows no inline script. The app
// (src/lib/theme.ts) keeps the same key and rule and takes over once it runs.
(function () {
  var choice = null;
  try {
    choice = window.localStorage.getItem("avesa.theme");
  } catch (e) {
    // Storage blocked: follow the OS.
  }
  var dark =
    choice === "dark" ||
    (choice !== "light" && !!window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  var root = document.documentElement;
  root.classList.toggle("dark", dark);
  root.setAttribute("data-theme", dark ? "dark" : "light");
})();
