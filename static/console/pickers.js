/* Form helpers. Every text field keeps working without this script; with it:
   - a select marked data-picker-source (an instance) feeds schema/table/column selects from the instance's
     server (/instances/<pk>/schema.json), and fields marked data-picker get an "Add" button filling them:
     "columns" and "tables" append to a comma list, "table-regex" sets the filter's regex and shows which
     tables of the instance it matches (/instances/<pk>/tables-matching.json);
   - "Test connection" / "Test target" buttons (data-test-connection) answer in place instead of reloading. */
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function getJSON(url) {
    return fetch(url, {headers: {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"},
                       credentials: "same-origin"})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); });
  }

  function fill(select, names, placeholder) {
    select.innerHTML = "";
    select.appendChild(el("option", {value: ""}, placeholder));
    names.forEach(function (name) { select.appendChild(el("option", {value: name}, name)); });
  }

  function labelled(id, label, control) {
    var wrap = el("div", {"class": "form-group col-md-4 mb-1"});
    wrap.appendChild(el("label", {"for": id, "class": "small mb-0"}, label));
    control.id = id;
    control.className = "form-control form-control-sm";
    wrap.appendChild(control);
    return wrap;
  }

  function escapeRegex(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

  function appendItem(input, item) {
    var items = input.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    if (items.indexOf(item) < 0) { items.push(item); }
    input.value = items.join(",");
    input.dispatchEvent(new Event("input"));
  }

  function setupPickers(form) {
    var sourceSelect = form.querySelector("[data-picker-source]");
    var targets = form.querySelectorAll("[data-picker]");
    if (!sourceSelect || !targets.length) { return; }
    var schemaUrl = sourceSelect.getAttribute("data-schema-url");
    var previewUrl = sourceSelect.getAttribute("data-preview-url");
    var panel = el("div", {"class": "form-row border rounded p-2 mb-3 bg-light", "id": "picker-panel"});
    var status = el("small", {"class": "form-text text-muted col-12", "role": "status", "aria-live": "polite"});
    var schema = el("select"), table = el("select"), column = el("select");
    panel.appendChild(labelled("picker-schema", "Schema", schema));
    panel.appendChild(labelled("picker-table", "Table", table));
    panel.appendChild(labelled("picker-column", "Column", column));
    panel.appendChild(status);
    var anchor = sourceSelect.closest(".form-group") || sourceSelect;
    anchor.parentNode.insertBefore(panel, anchor.nextSibling);
    var columnsByTable = {};

    function url(template, params) {
      var u = template.replace("__pk__", encodeURIComponent(sourceSelect.value));
      var q = Object.keys(params).map(function (k) { return k + "=" + encodeURIComponent(params[k]); }).join("&");
      return q ? u + "?" + q : u;
    }

    function loadSchemas() {
      fill(schema, [], "—"); fill(table, [], "—"); fill(column, [], "—");
      if (!sourceSelect.value) { status.textContent = "Choose an instance to pick names from its server."; return; }
      status.textContent = "Reading schemas…";
      getJSON(url(schemaUrl, {})).then(function (r) {
        if (!r.ok) { status.textContent = r.body.error || "Could not read the schemas."; return; }
        fill(schema, r.body.schemas, "Choose a schema");
        status.textContent = r.body.truncated ? "Only the first schemas are listed." : "";
      });
    }

    schema.addEventListener("change", function () {
      fill(table, [], "—"); fill(column, [], "—");
      if (!schema.value) { return; }
      status.textContent = "Reading tables…";
      getJSON(url(schemaUrl, {schema: schema.value})).then(function (r) {
        if (!r.ok) { status.textContent = r.body.error || "Could not read the tables."; return; }
        columnsByTable = r.body.tables;
        fill(table, Object.keys(columnsByTable), "Choose a table");
        status.textContent = r.body.truncated ? "Only the first tables and columns are listed." : "";
      });
    });
    table.addEventListener("change", function () {
      fill(column, columnsByTable[table.value] || [], "Choose a column");
    });
    sourceSelect.addEventListener("change", loadSchemas);
    loadSchemas();

    Array.prototype.forEach.call(targets, function (input) {
      var kind = input.getAttribute("data-picker");
      var label = {"columns": "Add the chosen column", "tables": "Add the chosen table",
                   "table-regex": "Use the chosen table"}[kind];
      var button = el("button", {"type": "button", "class": "btn btn-sm btn-outline-secondary mt-1"}, label);
      button.setAttribute("aria-label", label + " to " + (input.labels && input.labels[0] ? input.labels[0].textContent : input.name));
      input.parentNode.insertBefore(button, input.nextSibling);
      button.addEventListener("click", function () {
        if (kind === "columns" && column.value) { appendItem(input, column.value); }
        if (kind === "tables" && schema.value && table.value) { appendItem(input, schema.value + "." + table.value); }
        if (kind === "table-regex" && schema.value && table.value) {
          input.value = escapeRegex(schema.value) + "\\." + escapeRegex(table.value);
          input.dispatchEvent(new Event("input"));
        }
      });
      if (kind === "table-regex" && previewUrl) {
        var preview = el("small", {"class": "form-text", "id": "regex-preview", "role": "status", "aria-live": "polite"});
        button.parentNode.insertBefore(preview, button.nextSibling);
        var timer = null;
        var update = function () {
          clearTimeout(timer);
          timer = setTimeout(function () {
            if (!sourceSelect.value || !input.value) { preview.textContent = ""; return; }
            getJSON(url(previewUrl, {pattern: input.value})).then(function (r) {
              if (!r.ok) { preview.textContent = r.body.error || "Could not check the regex."; return; }
              var names = r.body.matched;
              preview.textContent = names.length
                ? "Matches " + names.length + (r.body.truncated ? "+" : "") + ": " + names.slice(0, 20).join(", ") + (names.length > 20 ? ", …" : "")
                : "Matches no table of this instance.";
            });
          }, 400);
        };
        input.addEventListener("input", update);
        sourceSelect.addEventListener("change", update);
        update();
      }
    });
  }

  function setupTestButtons(form) {
    Array.prototype.forEach.call(form.querySelectorAll("[data-test-connection]"), function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        var result = form.querySelector("#test-connection-result");
        result.textContent = "Testing…";
        fetch(button.getAttribute("formaction"), {
          method: "POST", body: new FormData(form), credentials: "same-origin",
          headers: {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}
        }).then(function (r) { return r.json(); }).then(function (body) {
          result.innerHTML = "";
          var list = el("ul", {"class": "list-unstyled mt-2 mb-0"});
          if (body.checks) {
            body.checks.forEach(function (c) {
              list.appendChild(el("li", {"class": c.ok ? "text-success" : "text-danger"},
                (c.ok ? "OK: " : "Failed: ") + c.name + (c.reason ? " — " + c.reason : "")));
            });
          } else {
            list.appendChild(el("li", {"class": body.ok ? "text-success" : "text-danger"},
              (body.ok ? "OK: " : "Failed: ") + (body.message || body.error || "")));
          }
          result.appendChild(list);
        }).catch(function () { result.textContent = "The test could not be run."; });
      });
    });
  }

  document.querySelectorAll("form").forEach(function (form) {
    setupPickers(form);
    setupTestButtons(form);
  });
}());
