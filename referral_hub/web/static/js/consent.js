// The consent text she reads lists only the kinds of information ticked below it: ticking
// or unticking a box shows or hides its line at once. Without JavaScript the page shows
// what was ticked when it was drawn (the server renders the same rule).
(function () {
  "use strict";
  function sync() {
    var boxes = document.querySelectorAll('input[type=checkbox][name="data_categories"]');
    boxes.forEach(function (box) {
      var line = document.querySelector('.consent-categories [data-category="' + box.value + '"]');
      if (line) { line.hidden = !box.checked; }
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "data_categories") { sync(); }
  });
  document.addEventListener("htmx:afterSettle", sync);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", sync);
  } else {
    sync();
  }
}());
