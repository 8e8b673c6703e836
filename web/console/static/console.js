// 网格通控制台: a little script for what a page cannot do by itself — posting with the
// session's CSRF token, the sign-in steps, the notice composer and the live views
// (Server-Sent Events). Nothing is loaded from anywhere else.
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function flash(text, bad) {
    const box = $("#flash");
    if (!box) return;
    box.textContent = text || "";
    box.className = text ? (bad ? "flash bad" : "flash ok") : "";
  }

  async function send(url, options) {
    const headers = Object.assign({ "X-CSRF-Token": csrf() }, options.headers || {});
    const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options, { headers }));
    const type = response.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await response.json() : await response.text();
    return { ok: response.ok, status: response.status, body };
  }

  function problemText(body) {
    if (body && typeof body === "object") {
      return [body.message].concat(body.problems || []).filter(Boolean).join("；");
    }
    return "请求未能完成";
  }

  // Forms posted to a console route (multipart; HTML or JSON back). A form with
  // data-step asks first: its submit opens the confirmation step, whose own submit posts.
  $$("form[data-post]").forEach((form) => {
    const step = form.dataset.step ? $(form.dataset.step) : null;
    const start = $("[data-step-start]", form);
    const preview = $("[data-preview]", form);
    const closeStep = (focus) => {
      if (!step || step.hidden) return;
      step.hidden = true;
      if (start) start.hidden = false;
      if (focus && start) $("button", start).focus();
    };
    $$("[data-step-back]", form).forEach((back) => back.addEventListener("click", () => closeStep(true)));
    if (preview) preview.addEventListener("input", () => closeStep(false)); // confirm what is sent
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (step && step.hidden) {
        if (preview) $(preview.dataset.preview).textContent = preview.value.trim();
        step.hidden = false;
        if (start) start.hidden = true;
        $("button[type=submit]", step).focus();
        return;
      }
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      const button = event.submitter || $("button[type=submit]", form);
      if (button) button.disabled = true;
      let leaving = false;
      try {
        const result = await send(form.dataset.post, { method: "POST", body: new FormData(form) });
        if (typeof result.body === "string") {
          const target = $(form.dataset.target || "#flash");
          target.innerHTML = result.body.includes("<main") ? new DOMParser().parseFromString(result.body, "text/html").querySelector("main").innerHTML : result.body;
          if (form.id === "roster-form") wireRosterConfirm(form);
          return;
        }
        if (!result.ok) { flash(problemText(result.body), true); return; }
        flash(result.body.message || "已完成");
        if (result.body.redirect) {
          leaving = true;
          window.setTimeout(() => { window.location.href = result.body.redirect; }, 600);
        }
      } catch (error) {
        flash("网络错误：" + error, true);
      } finally {
        if (button && !leaving) button.disabled = false;
      }
    });
  });

  function wireRosterConfirm(form) {
    const confirmButton = $("#roster-confirm");
    if (!confirmButton) return;
    confirmButton.addEventListener("click", () => {
      $("#roster-apply").value = "1";
      form.requestSubmit();
      $("#roster-apply").value = "0";
    });
  }

  // Forms that call the JSON API.
  $$("form[data-api]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      const options = { method: form.dataset.method || "POST" };
      if (form.dataset.json) {
        const data = {};
        new FormData(form).forEach((value, key) => { if (value !== "") data[key] = value; });
        options.body = JSON.stringify(data);
        options.headers = { "Content-Type": "application/json" };
      }
      const result = await send(form.dataset.api, options);
      if (!result.ok) { flash(problemText(result.body), true); return; }
      if (form.dataset.target && result.body && result.body.token) {
        $(form.dataset.target).textContent = "令牌只显示这一次，请立即保存：" + result.body.token;
        return;
      }
      flash(form.dataset.done || (result.body && result.body.message) || "已完成");
      if (form.dataset.hide) form.parentElement.hidden = true;
      if (form.dataset.redirect) window.location.href = form.dataset.redirect;
    });
  });

  // Sign-in: the code on WeChat, or a password.
  const signin = $("#signin-form");
  if (signin) {
    $("#send-code").addEventListener("click", async () => {
      const phone = $("#phone").value.trim();
      if (!/^1[3-9]\d{9}$/.test(phone)) { flash("请输入11位手机号", true); $("#phone").focus(); return; }
      const result = await send("/api/auth/code", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ phone }) });
      flash(result.ok ? result.body.message : problemText(result.body), !result.ok);
      if (result.ok) $("#code").focus();
    });
    signin.addEventListener("submit", async (event) => {
      event.preventDefault();
      const phone = $("#phone").value.trim();
      const code = $("#code").value.trim();
      const password = $("#password").value;
      const data = code ? { phone, code } : { phone, password };
      const result = await send("/api/auth/signin", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
      if (!result.ok) { flash(problemText(result.body), true); return; }
      window.location.href = signin.dataset.next || "/console/";
    });
  }

  // The notice composer: the tree picker, the plan, the confirmation.
  const compose = $("#compose");
  if (compose) {
    const chosen = $("#scope-chosen");
    const scopeInput = $("#n-scope");
    const pick = (path) => { scopeInput.value = path; chosen.textContent = path.split("/").slice(1).join("/") || path; };
    $$("input[name=scope-pick]", compose).forEach((radio) => radio.addEventListener("change", () => pick(radio.value)));
    const search = $("#scope-search");
    search.addEventListener("input", () => {
      const text = search.value.trim();
      $$(".tree li", compose).forEach((li) => { li.hidden = text !== "" && !li.dataset.path.includes(text); });
    });
    search.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const visible = $$(".tree li", compose).filter((li) => !li.hidden);
      if (visible.length === 1) { $("input", visible[0]).checked = true; pick(visible[0].dataset.path); }
      else if (search.value.includes("/")) pick(search.value.trim());
    });
    let code = null;
    compose.addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData(compose);
      const body = {
        title: form.get("title"), body: form.get("body"), scope: form.get("scope"),
        levels: form.getAll("levels"), priority: form.get("urgent") ? "urgent" : "normal",
        ack_required: !!form.get("ack"),
      };
      const result = await send("/api/notices", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      if (!result.ok) { flash(problemText(result.body), true); return; }
      const plan = result.body;
      code = plan.code;
      $("#plan").hidden = false;
      $("#plan-code").textContent = plan.code;
      $("#plan-groups").textContent = plan.groups + " 个群";
      $("#plan-predicted").textContent = plan.predicted_reach_s.toFixed(0) + " 秒";
      $("#plan-lower").textContent = plan.lower_bound_s.toFixed(0) + " 秒";
      $("#plan-deadline").textContent = plan.deadline_s.toFixed(0) + " 秒" + (plan.meets_deadline ? "（可按时送达）" : "（预计超时）");
      $("#plan-unreachable").textContent = plan.unreachable + " 个";
      $("#plan-summary").textContent = plan.summary;
      $("#plan-link").href = "/console/notices/" + plan.code;
      flash("已生成发送计划，尚未发送。请核对后确认。");
      $("#confirm-button").focus();
    });
    $("#confirm-button").addEventListener("click", async () => {
      if (!code) return;
      const result = await send("/api/notices/" + code + "/confirm", { method: "POST" });
      if (!result.ok) { flash(problemText(result.body), true); return; }
      window.location.href = "/console/notices/" + code;
    });
    $("#cancel-button").addEventListener("click", async () => {
      if (!code) return;
      const result = await send("/api/notices/" + code + "/cancel", { method: "POST" });
      flash(result.ok ? "已取消 " + code : problemText(result.body), !result.ok);
      if (result.ok) { $("#plan").hidden = true; code = null; }
    });
  }

  // A multiple-choice tree (the task form): the search box hides what does not match.
  $$("[data-filter]").forEach((picker) => {
    const search = $("[data-filter-input]", picker);
    if (!search) return;
    search.addEventListener("input", () => {
      const text = search.value.trim();
      $$(".tree li", picker).forEach((li) => { li.hidden = text !== "" && !li.dataset.path.includes(text); });
    });
    search.addEventListener("keydown", (event) => { if (event.key === "Enter") event.preventDefault(); });
  });

  // The ticket board reloads its table when a ticket in scope changes.
  const board = $("#board[data-live]");
  if (board && window.EventSource) {
    let first = true;
    const source = new EventSource(board.dataset.live);
    source.addEventListener("changed", async () => {
      if (first) { first = false; return; }
      const response = await fetch(board.dataset.partial, { credentials: "same-origin" });
      if (response.ok) board.innerHTML = await response.text();
    });
    window.addEventListener("pagehide", () => source.close());
  }

  // A notice's live reach.
  const live = $("#live[data-live]");
  if (live) {
    const draw = (data) => {
      $("#c-pct").textContent = Number(data.reached_pct).toFixed(1) + "%";
      $("#c-sent").textContent = data.sent;
      $("#c-targeted").textContent = data.targeted;
      $("#c-pending").textContent = data.pending;
      $("#c-failed").textContent = data.failed + data.unreachable + data.uncertain;
      $("#c-acked").textContent = data.acked;
      $("#c-elapsed").textContent = data.reach_s !== null ? data.reach_s : (data.elapsed_s || 0);
      $("#n-status").textContent = data.status_label;
      const curve = data.curve || [];
      const end = Math.max(1, data.deadline_s || 0, curve.length ? curve[curve.length - 1][0] : 0);
      $("#curve-line").setAttribute("points", curve.map(([t, share]) => `${(t / end * 600).toFixed(1)},${(150 - share * 140).toFixed(1)}`).join(" "));
      $("#curve-max").textContent = end.toFixed(0) + " 秒";
      const rows = (data.villages || []).map((v) => `<tr><td>${escape(v.name)}</td><td>${v.targeted}</td><td>${v.sent}</td><td>${v.pending}</td><td>${v.failed}</td><td>${v.acked}</td><td>${v.ack_pct}%</td></tr>`);
      $("#villages tbody").innerHTML = rows.join("");
      const failures = (data.failures || []).map((f) => `<li>${escape(f.place)}（${escape(f.level)}）${escape(f.state)} ${escape(f.error)}</li>`);
      $("#failures").innerHTML = failures.join("") || "<li>无</li>";
      const levels = (data.levels || []).map((v) => `<tr><td>${escape(v.name)}</td><td>${v.targeted}</td><td>${v.sent}</td><td>${v.acked}</td><td>${v.ack_pct}%</td></tr>`);
      $("#levels tbody").innerHTML = levels.join("");
      live.dataset.reached = String(data.reached_pct);
    };
    draw(JSON.parse(live.dataset.initial));
    if (window.EventSource) {
      const source = new EventSource(live.dataset.live);
      source.addEventListener("reach", (event) => draw(JSON.parse(event.data)));
      source.addEventListener("end", () => source.close());
      window.addEventListener("pagehide", () => source.close());
    }
  }

  function escape(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
})();
