// Drag a post to another day: POST {date} to the post's move endpoint; the server validates and answers.
(function () {
  "use strict";
  var grid = document.querySelector("[data-move-url]");
  if (!grid) return;
  var status = document.getElementById("cal-status");
  var csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  var dragged = null;

  grid.addEventListener("dragstart", function (event) {
    var post = event.target.closest("[data-post-id]");
    if (!post) return;
    dragged = post;
    event.dataTransfer.setData("text/plain", post.dataset.postId);
    event.dataTransfer.effectAllowed = "move";
  });
  grid.addEventListener("dragover", function (event) {
    if (event.target.closest(".cal-day")) event.preventDefault();
  });
  grid.addEventListener("drop", function (event) {
    var day = event.target.closest(".cal-day");
    if (!day || !dragged) return;
    event.preventDefault();
    var post = dragged;
    dragged = null;
    var url = grid.dataset.moveUrl.replace("/0/", "/" + post.dataset.postId + "/");
    status.textContent = "Moving…";
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      credentials: "same-origin",
      body: JSON.stringify({ date: day.dataset.date }),
    })
      .then(function (response) { return response.json().then(function (body) { return { ok: response.ok, body: body }; }); })
      .then(function (result) {
        if (!result.ok || !result.body.ok) {
          status.textContent = "Not moved: " + (result.body.error || "the server refused");
          status.style.color = "var(--bad)";
          return;
        }
        day.appendChild(post);
        status.style.color = "var(--ok)";
        status.textContent = "Moved to " + day.dataset.date + (result.body.flag ? " — ⚠ " + result.body.flag : "") + ".";
        status.dataset.movedPost = post.dataset.postId;
      })
      .catch(function () { status.textContent = "Not moved: the server could not be reached."; });
  });
})();
