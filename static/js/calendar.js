// Move a post to another day: drag it to a day, or (keyboard, touch) its "Move" form with a day and a time.
// Both POST to the post's move endpoint; the server validates (the account's zone, the publishing rules) and answers.
(function () {
  "use strict";
  var grid = document.querySelector("[data-move-url]");
  if (!grid) return;
  var status = document.getElementById("cal-status");
  var csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  var dragged = null;

  function say(text, ok) {
    status.style.color = ok === undefined ? "" : ok ? "var(--ok)" : "var(--bad)";
    status.textContent = text;
  }

  // The post's label shows its time (HH:MM, in its first text that has one): the new one once moved.
  function retime(link, time) {
    var walker = document.createTreeWalker(link, NodeFilter.SHOW_TEXT);
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
      if (/\d\d:\d\d/.test(node.nodeValue)) {
        node.nodeValue = node.nodeValue.replace(/\d\d:\d\d/, time);
        return;
      }
    }
  }

  // body: {date} (a drop keeps the time of day) or {date, time}; done(true) once moved.
  function move(postId, body, done) {
    var url = grid.dataset.moveUrl.replace("/0/", "/" + postId + "/");
    say("Moving…");
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      credentials: "same-origin",
      body: JSON.stringify(body),
    })
      .then(function (response) { return response.json().then(function (answer) { return { ok: response.ok, body: answer }; }); })
      .then(function (result) {
        if (!result.ok || !result.body.ok) {
          say("Not moved: " + (result.body.error || "the server refused"), false);
          done(false);
          return;
        }
        var item = grid.querySelector('.cal-item[data-post-id="' + postId + '"]');
        var day = grid.querySelector('.cal-day[data-date="' + body.date + '"]');
        var link = item && item.querySelector("a[data-post-id]");
        if (link && body.time) retime(link, body.time);
        if (item && day) day.appendChild(item);
        else if (item) item.remove();  // moved out of the days shown
        say("Moved to " + body.date + (body.time ? " " + body.time : "") + (result.body.flag ? " — ⚠ " + result.body.flag : "") + ".", true);
        status.dataset.movedPost = postId;
        done(true);
      })
      .catch(function () { say("Not moved: the server could not be reached.", false); done(false); });
  }

  grid.addEventListener("dragstart", function (event) {
    var post = event.target.closest("a[data-post-id]");
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
    move(post.dataset.postId, { date: day.dataset.date }, function () {});
  });

  // The Move form: the chosen day and time; once moved, the form closes and the post keeps the focus.
  grid.addEventListener("submit", function (event) {
    var form = event.target.closest(".cal-move-form");
    if (!form) return;
    event.preventDefault();
    var postId = form.dataset.postId;
    move(postId, { date: form.elements.date.value, time: form.elements.time.value }, function (moved) {
      if (!moved) return;
      var details = form.closest("details");
      if (details) details.open = false;
      var link = grid.querySelector('a[data-post-id="' + postId + '"]');
      if (link) link.focus();
      else status.focus();
    });
  });
})();
