// The flow builder: edits a flow's steps in place and previews the conversation as the follower sees it.
// The server stays the source of truth: the page gives the saved steps (json_script "flow-builder-data"),
// this file edits a copy, and "Save flow" posts the whole definition (steps_json) for the server to
// validate and version. Without JavaScript the page keeps its plain form (one form per step).
(function () {
  "use strict";
  var form = document.querySelector("form[data-flow-builder]");
  var dataNode = document.getElementById("flow-builder-data");
  if (!form || !dataNode) return;
  var data = JSON.parse(dataNode.textContent);
  var TYPES = data.types;
  var LIMITS = data.limits;
  var END = data.end;
  var MESSAGE_TYPES = ["send_text", "send_quick_replies", "ask"];
  var NEXT_TYPES = ["send_text", "send_quick_replies", "ask", "delay", "add_tag", "webhook"];

  var root = form.querySelector("[data-fb-root]");
  var list = form.querySelector("[data-fb-steps]");
  var statusNode = form.querySelector("[data-fb-status]");
  var preview = form.querySelector("[data-fb-preview]");
  var jsonField = form.querySelector("[data-fb-json]");
  var formset = form.querySelector("[data-fb-formset]");

  var steps = (data.steps || []).map(normalize);
  if (!steps.length) {
    var first = blank("send_text");
    first.id = "step-1";
    steps.push(first);
  }
  var problems = data.problems || [];
  var answers = []; // the follower's answers in the preview, replayed after each edit
  var undo = null; // {step, index, relink} of the last deleted step

  // ------------------------------------------------------------------ the steps

  function normalize(step) {
    var copy = JSON.parse(JSON.stringify(step || {}));
    copy.id = String(copy.id || "");
    copy.type = TYPES[copy.type] ? copy.type : "send_text";
    copy.options = Array.isArray(copy.options) ? copy.options : [];
    copy.cases = Array.isArray(copy.cases) ? copy.cases : [];
    return copy;
  }

  function freshId() {
    var taken = steps.map(function (step) { return step.id; });
    for (var n = steps.length + 1; ; n++) {
      if (taken.indexOf("step-" + n) === -1) return "step-" + n;
    }
  }

  function blank(type) {
    var step = { id: "", type: type, options: [], cases: [] };
    if (type === "send_quick_replies") step.options = [{ title: "", payload: "" }];
    if (type === "branch") step.cases = [{ match: "", goto: "" }];
    if (type === "delay") step.seconds = 60;
    if (type === "webhook") step.timeout = 10;
    return step;
  }

  function payloadOf(title) {
    return (title || "").toUpperCase().replace(/[^A-Z0-9]+/g, "_").replace(/^_+|_+$/g, "") || "OPTION";
  }

  // The definition as the server's format has it (messaging/flows.py): only each type's fields.
  function definition() {
    return steps.map(function (step) {
      var out = { id: step.id, type: step.type };
      var kind = step.type;
      if (MESSAGE_TYPES.indexOf(kind) !== -1) out.text = step.text || "";
      if (kind === "send_quick_replies" || (kind === "ask" && step.options.length)) {
        out.options = step.options.map(function (option) {
          var button = { title: option.title || "", payload: option.payload || payloadOf(option.title) };
          if (option.goto) button.goto = option.goto;
          return button;
        });
      }
      if (kind === "ask" || kind === "branch" || kind === "webhook") out.variable = step.variable || "";
      if (kind === "branch") {
        out.cases = step.cases.map(function (c) { return { match: c.match || "", goto: c.goto || "" }; });
        if (step.default) out.default = step.default;
      }
      if (kind === "delay") out.seconds = step.seconds === "" || step.seconds == null ? null : Number(step.seconds);
      if (kind === "add_tag") out.tag = step.tag || "";
      if (kind === "webhook") {
        out.url = step.url || "";
        out.timeout = step.timeout === "" || step.timeout == null ? null : Number(step.timeout);
      }
      if (NEXT_TYPES.indexOf(kind) !== -1 && step.next) out.next = step.next;
      return out;
    });
  }

  // ------------------------------------------------------------------ rendering the editor

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "value") node.value = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  var uid = 0;
  function field(label, control, help) {
    var id = "fb-field-" + ++uid;
    control.id = id;
    return el("div", { class: "field" }, [
      el("label", { for: id, text: label }), control, help ? el("span", { class: "helptext", text: help }) : null,
    ]);
  }

  function targetSelect(selected, firstLabel, attributes, withEnd) {
    var select = el("select", attributes);
    select.appendChild(el("option", { value: "", text: firstLabel }));
    steps.forEach(function (step, index) {
      select.appendChild(el("option", { value: step.id, text: (index + 1) + ". " + (step.id || "(no id)") }));
    });
    if (withEnd) select.appendChild(el("option", { value: END, text: "End the flow" }));
    select.value = selected || "";
    if (select.value !== (selected || "")) { // a target that is no step: keep it visible, the server says why
      select.appendChild(el("option", { value: selected, text: selected + " (missing)" }));
      select.value = selected;
    }
    return select;
  }

  function stepSummary(step) {
    var text = step.text || step.tag || step.url || step.variable || "";
    return TYPES[step.type] + (text ? ": " + text.slice(0, 40) : "");
  }

  function renderStep(step, index) {
    var item = el("li", { class: "fb-step", "data-testid": "builder-step", "data-index": index, tabindex: "-1",
      "aria-label": "Step " + (index + 1) + ", " + stepSummary(step) });
    var typeSelect = el("select", { "data-key": "type", "data-testid": "builder-step-type", "aria-label": "Step " + (index + 1) + " type" });
    Object.keys(TYPES).forEach(function (value) { typeSelect.appendChild(el("option", { value: value, text: TYPES[value] })); });
    typeSelect.value = step.type;
    var idInput = el("input", { type: "text", value: step.id, "data-key": "id", "data-testid": "builder-step-id",
      "aria-label": "Step " + (index + 1) + " id", maxlength: "40", class: "fb-id" });
    item.appendChild(el("div", { class: "fb-step-head" }, [
      el("span", { class: "fb-number", "aria-hidden": "true", text: String(index + 1) }),
      typeSelect, idInput,
      el("span", { class: "fb-tools" }, [
        el("button", { type: "button", class: "secondary small", "data-action": "up", "aria-label": "Move step " + (index + 1) + " up", title: "Move up", disabled: index === 0, text: "↑" }),
        el("button", { type: "button", class: "secondary small", "data-action": "down", "aria-label": "Move step " + (index + 1) + " down", title: "Move down", disabled: index === steps.length - 1, text: "↓" }),
        el("button", { type: "button", class: "danger small", "data-action": "delete", "data-testid": "builder-step-delete", "aria-label": "Delete step " + (index + 1), text: "Delete" }),
      ]),
    ]));
    var body = el("div", { class: "step-grid" });
    var kind = step.type;
    if (MESSAGE_TYPES.indexOf(kind) !== -1) {
      var text = el("textarea", { rows: "2", "data-key": "text", "data-testid": "builder-step-text" });
      text.value = step.text || "";
      var wide = field("Message", text, "May use {username}, {name}, {first_name} and earlier answers' {variable}.");
      wide.classList.add("wide");
      body.appendChild(wide);
    }
    if (kind === "send_quick_replies" || kind === "ask") body.appendChild(renderOptions(step, index));
    if (kind === "ask" || kind === "branch" || kind === "webhook") {
      var help = kind === "ask" ? "where the answer goes" : kind === "branch" ? "the answer to compare" : "where the result goes";
      body.appendChild(field("Variable", el("input", { type: "text", value: step.variable || "", "data-key": "variable", "data-testid": "builder-step-variable", maxlength: "40" }), help));
    }
    if (kind === "branch") {
      body.appendChild(renderCases(step, index));
      body.appendChild(field("Otherwise go to", targetSelect(step.default, "The next step", { "data-key": "default" }, false)));
    }
    if (kind === "delay") {
      body.appendChild(field("Delay (seconds)", el("input", { type: "number", min: "1", max: String(LIMITS.delay), value: step.seconds == null ? "" : step.seconds, "data-key": "seconds", "data-testid": "builder-step-seconds" })));
    }
    if (kind === "add_tag") {
      body.appendChild(field("Tag", el("input", { type: "text", value: step.tag || "", "data-key": "tag", maxlength: "40" }), "the tag “lead” also reports a new lead"));
    }
    if (kind === "webhook") {
      body.appendChild(field("Webhook URL", el("input", { type: "url", value: step.url || "", "data-key": "url" }), "POST JSON with the answers so far"));
      body.appendChild(field("Timeout (seconds)", el("input", { type: "number", min: "1", max: String(LIMITS.timeout), step: "any", value: step.timeout == null ? "" : step.timeout, "data-key": "timeout" })));
    }
    if (kind === "hand_over") body.appendChild(el("p", { class: "muted small wide", text: "Hands the conversation to a person: automation stops and the members are notified." }));
    if (kind === "end") body.appendChild(el("p", { class: "muted small wide", text: "Ends the flow here." }));
    if (NEXT_TYPES.indexOf(kind) !== -1) {
      body.appendChild(field("Then go to", targetSelect(step.next, "The next step", { "data-key": "next", "data-testid": "builder-step-next" }, true)));
    }
    item.appendChild(body);
    var mine = problems.filter(function (problem) { return problem.step === index; });
    if (mine.length) {
      item.classList.add("has-errors");
      item.appendChild(el("ul", { class: "errorlist", "data-testid": "builder-step-errors" },
        mine.map(function (problem) { return el("li", { text: problem.message }); })));
    }
    return item;
  }

  function renderOptions(step, index) {
    var box = el("div", { class: "field wide fb-options" });
    box.appendChild(el("label", { text: "Quick-reply buttons" }));
    var rows = el("div", { class: "fb-rows" });
    step.options.forEach(function (option, n) {
      rows.appendChild(el("div", { class: "fb-row", "data-option": n, "data-testid": "builder-option" }, [
        el("input", { type: "text", value: option.title || "", "data-option-key": "title", "data-testid": "builder-option-title", maxlength: String(LIMITS.title), "aria-label": "Button " + (n + 1) + " title", placeholder: "Title" }),
        el("input", { type: "text", value: option.payload || "", "data-option-key": "payload", "aria-label": "Button " + (n + 1) + " payload", placeholder: payloadOf(option.title) }),
        targetSelect(option.goto, "Leads to: the next step", { "data-option-key": "goto", "data-testid": "builder-option-goto", "aria-label": "Button " + (n + 1) + " leads to" }, false),
        el("button", { type: "button", class: "secondary small", "data-action": "remove-option", "aria-label": "Remove button " + (n + 1), text: "Remove" }),
      ]));
    });
    box.appendChild(rows);
    box.appendChild(el("button", { type: "button", class: "secondary small", "data-action": "add-option", "data-testid": "builder-option-add", disabled: step.options.length >= LIMITS.quick_replies, text: "Add button" }));
    box.appendChild(el("span", { class: "helptext", text: "Up to " + LIMITS.quick_replies + " buttons, titles up to " + LIMITS.title + " characters. A button that leads to a step makes the flow wait for the tap and continue there." }));
    return box;
  }

  function renderCases(step) {
    var box = el("div", { class: "field wide" });
    box.appendChild(el("label", { text: "Cases" }));
    var rows = el("div", { class: "fb-rows" });
    step.cases.forEach(function (branchCase, n) {
      rows.appendChild(el("div", { class: "fb-row", "data-case": n }, [
        el("input", { type: "text", value: branchCase.match || "", "data-case-key": "match", "aria-label": "Case " + (n + 1) + " keywords or payloads", placeholder: "keywords or PAYLOAD, comma-separated" }),
        targetSelect(branchCase.goto, "Go to…", { "data-case-key": "goto", "aria-label": "Case " + (n + 1) + " goes to" }, false),
        el("button", { type: "button", class: "secondary small", "data-action": "remove-case", "aria-label": "Remove case " + (n + 1), text: "Remove" }),
      ]));
    });
    box.appendChild(rows);
    box.appendChild(el("button", { type: "button", class: "secondary small", "data-action": "add-case", text: "Add case" }));
    return box;
  }

  function render(focus) {
    list.textContent = "";
    steps.forEach(function (step, index) { list.appendChild(renderStep(step, index)); });
    var add = form.querySelector("[data-fb-add]");
    add.disabled = steps.length >= LIMITS.steps;
    renderPreview();
    if (focus) {
      var item = list.children[focus.index];
      var target = item && (focus.selector ? item.querySelector(focus.selector) : item);
      if (target && target.disabled) target = item;
      if (target) target.focus();
    }
  }

  function announce(message, withUndo) {
    statusNode.textContent = "";
    statusNode.appendChild(document.createTextNode(message + " "));
    if (withUndo) {
      statusNode.appendChild(el("button", { type: "button", class: "secondary small", "data-action": "undo", "data-testid": "builder-undo", text: "Undo" }));
    }
  }

  // ------------------------------------------------------------------ editing

  function stepIndexOf(node) {
    var item = node.closest(".fb-step");
    return item ? Number(item.getAttribute("data-index")) : -1;
  }

  function move(index, by, selector) {
    var to = index + by;
    if (to < 0 || to >= steps.length) return;
    var moved = steps.splice(index, 1)[0];
    steps.splice(to, 0, moved);
    problems = [];
    render({ index: to, selector: selector });
    announce("Step " + (moved.id || "") + " moved to position " + (to + 1) + ".");
  }

  function renameTargets(from, to) {
    if (!from || from === to) return;
    steps.forEach(function (step) {
      if (step.next === from) step.next = to;
      if (step.default === from) step.default = to;
      step.options.forEach(function (option) { if (option.goto === from) option.goto = to; });
      step.cases.forEach(function (branchCase) { if (branchCase.goto === from) branchCase.goto = to; });
    });
  }

  // A deleted step's id leaves every place that led to it; the returned function puts it back (Undo).
  function dropTargets(id) {
    var restores = [];
    function drop(holder, key) {
      if (holder[key] !== id) return;
      holder[key] = "";
      restores.push(function () { if (!holder[key]) holder[key] = id; });
    }
    steps.forEach(function (step) {
      drop(step, "next");
      drop(step, "default");
      step.options.forEach(function (option) { drop(option, "goto"); });
      step.cases.forEach(function (branchCase) { drop(branchCase, "goto"); });
    });
    return function () { restores.forEach(function (restore) { restore(); }); };
  }

  // A field's value into the state (both "input" and "change" call it: a select may send only "change").
  function apply(target) {
    var index = stepIndexOf(target);
    if (index < 0) return -1;
    var step = steps[index];
    var key = target.getAttribute("data-key");
    var row = target.closest("[data-option], [data-case]");
    if (row && row.hasAttribute("data-option")) {
      step.options[Number(row.getAttribute("data-option"))][target.getAttribute("data-option-key")] = target.value;
    } else if (row && row.hasAttribute("data-case")) {
      step.cases[Number(row.getAttribute("data-case"))][target.getAttribute("data-case-key")] = target.value;
    } else if (key && key !== "id" && key !== "type") {
      step[key] = target.type === "number" ? (target.value === "" ? "" : Number(target.value)) : target.value;
    }
    return index;
  }

  // Typing re-renders the preview once it pauses, so a screen reader hears the result, not each key.
  var previewTimer = null;
  form.addEventListener("input", function (event) {
    if (apply(event.target) < 0) return;
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(renderPreview, 250);
  });

  form.addEventListener("change", function (event) {
    var target = event.target;
    var index = stepIndexOf(target);
    if (index < 0) return;
    var step = steps[index];
    var key = target.getAttribute("data-key");
    if (key === "id") {
      var id = target.value.trim();
      renameTargets(step.id, id);
      step.id = id;
      render({ index: index, selector: '[data-key="id"]' });
    } else if (key === "type") {
      var fresh = blank(target.value);
      fresh.id = step.id;
      fresh.text = step.text;
      fresh.variable = step.variable;
      fresh.next = step.next;
      if (target.value === "ask" || target.value === "send_quick_replies") fresh.options = step.options.length ? step.options : fresh.options;
      steps[index] = fresh;
      render({ index: index, selector: '[data-key="type"]' });
    } else {
      apply(target);
      renderPreview();
    }
  });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button) return;
    var action = button.getAttribute("data-action");
    if (action === "undo") {
      if (!undo) return;
      steps.splice(Math.min(undo.index, steps.length), 0, undo.step);
      undo.relink();
      var back = undo.index;
      undo = null;
      problems = [];
      render({ index: back });
      announce("Step restored.");
      return;
    }
    var index = stepIndexOf(button);
    if (index < 0) return;
    var step = steps[index];
    if (action === "up") move(index, -1, '[data-action="up"]');
    else if (action === "down") move(index, 1, '[data-action="down"]');
    else if (action === "delete") {
      if (steps.length === 1) { announce("A flow needs at least one step."); return; }
      undo = { step: steps.splice(index, 1)[0], index: index };
      undo.relink = dropTargets(undo.step.id);
      problems = [];
      render({ index: Math.min(index, steps.length - 1) });
      announce("Step " + (undo.step.id || index + 1) + " deleted.", true);
    } else if (action === "add-option") {
      step.options.push({ title: "", payload: "" });
      render({ index: index, selector: '[data-option="' + (step.options.length - 1) + '"] input' });
    } else if (action === "remove-option") {
      step.options.splice(Number(button.closest("[data-option]").getAttribute("data-option")), 1);
      render({ index: index, selector: '[data-action="add-option"]' });
    } else if (action === "add-case") {
      step.cases.push({ match: "", goto: "" });
      render({ index: index, selector: '[data-case="' + (step.cases.length - 1) + '"] input' });
    } else if (action === "remove-case") {
      step.cases.splice(Number(button.closest("[data-case]").getAttribute("data-case")), 1);
      render({ index: index, selector: '[data-action="add-case"]' });
    }
  });

  // Keyboard reorder: Alt + ArrowUp / ArrowDown anywhere inside a step moves it.
  list.addEventListener("keydown", function (event) {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
    var index = stepIndexOf(event.target);
    if (index < 0) return;
    event.preventDefault();
    move(index, event.key === "ArrowUp" ? -1 : 1, null);
  });

  form.querySelector("[data-fb-add]").addEventListener("click", function () {
    if (steps.length >= LIMITS.steps) return;
    var step = blank(form.querySelector("[data-fb-new-type]").value);
    step.id = freshId();
    steps.push(step);
    render({ index: steps.length - 1, selector: "textarea, input:not(.fb-id), select" });
    announce("Step " + step.id + " added (" + TYPES[step.type] + ").");
  });

  form.querySelector("[data-fb-restart]").addEventListener("click", function () {
    answers = [];
    renderPreview();
  });

  form.addEventListener("submit", function () {
    jsonField.value = JSON.stringify(definition());
    jsonField.disabled = false;
    // The plain form's fields stay out of the post: the definition above is the whole flow.
    formset.querySelectorAll("input, select, textarea, button").forEach(function (node) { node.disabled = true; });
  });

  // ------------------------------------------------------------------ the preview

  var PERSON = { username: "@your_follower", name: "Alex Rivera", first_name: "Alex" };

  function fill(text, variables) {
    return (text || "").replace(/\{([a-z_][a-z0-9_]*)\}/g, function (whole, name) {
      if (Object.prototype.hasOwnProperty.call(PERSON, name)) return PERSON[name];
      if (Object.prototype.hasOwnProperty.call(variables, name)) return typeof variables[name] === "string" ? variables[name] : JSON.stringify(variables[name]);
      return whole;
    });
  }

  function fold(text) {
    return String(text || "").toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").trim();
  }

  function optionTarget(step, answer) {
    var hit = (step.options || []).filter(function (option) {
      return answer === (option.payload || payloadOf(option.title)) || fold(answer) === fold(option.title);
    })[0];
    return hit && hit.goto ? hit.goto : "";
  }

  function following(step, index) {
    if (step.next === END) return -1;
    if (step.next) return indexOfId(step.next);
    return index + 1 < steps.length ? index + 1 : -1;
  }

  function indexOfId(id) {
    for (var i = 0; i < steps.length; i++) if (steps[i].id === id) return i;
    return -1;
  }

  function waitsForTap(step) {
    return step.type === "ask" || (step.type === "send_quick_replies" && step.options.some(function (o) { return o.goto; }));
  }

  function caseMatches(words, answer) {
    var folded = fold(answer);
    return words.split(",").map(fold).filter(Boolean).some(function (word) {
      return folded === word || (" " + folded.replace(/[^a-z0-9]+/g, " ") + " ").indexOf(" " + word + " ") !== -1;
    });
  }

  // Walk the steps as the engine does, replaying the follower's answers; returns what to show.
  function simulate() {
    var shown = [];
    var variables = {};
    var index = 0;
    var given = 0;
    var waiting = null;
    for (var guard = 0; guard < 200 && index >= 0 && index < steps.length; guard++) {
      var step = steps[index];
      var kind = step.type;
      if (MESSAGE_TYPES.indexOf(kind) !== -1) {
        shown.push({ who: "business", text: fill(step.text, variables) || "(empty message)" });
        if (!waitsForTap(step)) { index = following(step, index); continue; }
        if (given >= answers.length) { waiting = step; break; }
        var answer = answers[given++];
        shown.push({ who: "follower", text: answer.label });
        if (kind === "ask" && step.variable) variables[step.variable] = answer.value;
        var jump = optionTarget(step, answer.value);
        index = jump ? indexOfId(jump) : following(step, index);
      } else if (kind === "branch") {
        var value = String(variables[step.variable] || "");
        var hit = step.cases.filter(function (c) { return c.goto && caseMatches(c.match || "", value); })[0];
        index = hit ? indexOfId(hit.goto) : step.default ? indexOfId(step.default) : following(step, index);
      } else if (kind === "delay") {
        shown.push({ who: "note", text: "⏱ waits " + duration(Number(step.seconds) || 0) });
        index = following(step, index);
      } else if (kind === "add_tag") {
        shown.push({ who: "note", text: "Tag “" + (step.tag || "") + "” added" });
        index = following(step, index);
      } else if (kind === "webhook") {
        shown.push({ who: "note", text: "Calls " + (step.url || "the webhook") + (step.variable ? " → {" + step.variable + "}" : "") });
        if (step.variable) variables[step.variable] = "(webhook result)";
        index = following(step, index);
      } else if (kind === "hand_over") {
        shown.push({ who: "note", text: "Handed to a person: the flow stops" });
        return { shown: shown, waiting: null, ended: true };
      } else {
        break;
      }
    }
    return { shown: shown, waiting: waiting, ended: !waiting };
  }

  function duration(seconds) {
    if (seconds >= 3600 && seconds % 3600 === 0) return seconds / 3600 + " h";
    if (seconds >= 60 && seconds % 60 === 0) return seconds / 60 + " min";
    return seconds + " s";
  }

  function renderPreview() {
    var result = simulate();
    preview.textContent = "";
    result.shown.forEach(function (line) {
      preview.appendChild(el("div", { class: "fb-bubble " + line.who, "data-testid": "preview-" + line.who, text: line.text }));
    });
    if (result.waiting) {
      var step = result.waiting;
      if (step.options.length) {
        var buttons = el("div", { class: "fb-quick-replies", role: "group", "aria-label": "Quick replies" });
        step.options.forEach(function (option) {
          var title = option.title || "(no title)";
          var button = el("button", { type: "button", class: "fb-quick-reply", "data-testid": "preview-quick-reply", text: title });
          button.addEventListener("click", function () {
            answers.push({ label: title, value: option.payload || payloadOf(option.title) });
            renderPreview();
          });
          buttons.appendChild(button);
        });
        preview.appendChild(buttons);
      }
      if (step.type === "ask") {
        var input = el("input", { type: "text", placeholder: "Type an answer…", "aria-label": "The follower's answer", "data-testid": "preview-answer" });
        var send = el("button", { type: "button", class: "secondary small", text: "Send" });
        var answer = function () {
          if (!input.value.trim()) return;
          answers.push({ label: input.value.trim(), value: input.value.trim() });
          renderPreview();
        };
        send.addEventListener("click", answer);
        input.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); answer(); } });
        preview.appendChild(el("div", { class: "fb-answer" }, [input, send]));
      }
    } else {
      preview.appendChild(el("div", { class: "fb-bubble note", "data-testid": "preview-end", text: "End of the flow" }));
    }
  }

  // ------------------------------------------------------------------ start

  // The plain form stays in the page for a browser without JavaScript; here it is out of the way and
  // disabled, so Enter in a field never submits its hidden "Add step" button.
  formset.hidden = true;
  formset.querySelectorAll("input, select, textarea, button").forEach(function (node) { node.disabled = true; });
  root.hidden = false;
  var plainLink = form.querySelector("[data-fb-plain-link]");
  if (plainLink) plainLink.hidden = false;
  render(null);
  if (problems.length) {
    var first = problems.filter(function (problem) { return problem.step !== null; })[0];
    if (first && list.children[first.step]) list.children[first.step].scrollIntoView({ block: "center" });
  }
})();
