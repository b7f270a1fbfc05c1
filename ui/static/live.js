// live.js keeps a section of the dashboard current without reloading the
// page. The page works without it: every action is a plain form, and a
// reload shows the same.
//
// A <section data-live="URL"> is fetched again from URL every second, or
// every data-live-every milliseconds when the section says; the answer is
// the section as the dashboard renders it now. While the new rendering
// still has data-live, only the elements marked data-live-part
// are replaced (by the element of the same id), so that a form being
// filled in stays as it is. Once it has none (the work ended), the whole
// section is replaced and polling stops. A part that has the keyboard
// focus gives it to the same control (by id) in its new rendering. An answer without the section
// (the session ended, the section is gone) reloads the page; a failed
// request (the daemon restarting) is tried again, more slowly.
//
// A <form data-live-form> inside such a section (a tunnel's Start or Stop)
// is sent in the background instead: the dashboard answers as it does for
// the plain form (a redirect to the page with a message), and the page
// takes the answer's messages and section in place of its own, keeping
// the keyboard focus on the same control. An answer that is not the
// dashboard (the sign-in page, an error page) is shown as the page.
(function () {
	"use strict";
	var fast = 1000, slow = 3000;

	function parse(html) {
		return new DOMParser().parseFromString(html, "text/html");
	}

	function start(first) {
		if (first.dataset.liveStarted) {
			return;
		}
		first.dataset.liveStarted = "1";
		var id = first.id;
		var url = first.dataset.live;
		var every = parseInt(first.dataset.liveEvery, 10);
		if (!(every > 0)) {
			every = fast;
		}
		var retry = Math.max(every, slow);
		// gen changes with every form sent: a poll answered meanwhile is
		// older than the form's answer and is dropped.
		var gen = 0;
		function current() {
			return document.getElementById(id);
		}
		function again(delay) {
			window.setTimeout(poll, delay);
		}
		function poll() {
			var g = gen;
			// Against the origin: a page opened as http://user:password@host/
			// would give fetch a URL with credentials, which it refuses.
			fetch(new URL(url, location.origin), { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
				.then(function (res) {
					if (res.redirected || res.status === 204) {
						window.location.reload();
						return null;
					}
					if (!res.ok) {
						throw new Error(res.status + " " + res.statusText);
					}
					return res.text();
				})
				.then(function (html) {
					if (html === null) {
						return;
					}
					var section = current();
					if (g !== gen || !section) {
						again(every);
						return;
					}
					var doc = parse(html);
					var fresh = doc.getElementById(id);
					if (!fresh) {
						window.location.reload();
						return;
					}
					if (!fresh.hasAttribute("data-live")) {
						section.replaceWith(document.adoptNode(fresh));
						return;
					}
					section.querySelectorAll("[data-live-part]").forEach(function (part) {
						var next = part.id && doc.getElementById(part.id);
						if (!next || next.outerHTML === part.outerHTML) {
							return; // unchanged: the focus and a selection stay
						}
						var active = document.activeElement;
						var had = active && part.contains(active) ? active.id : null;
						part.replaceWith(document.adoptNode(next));
						if (had !== null) {
							focusAfter(next, had, part.id);
						}
					});
					again(every);
				})
				.catch(function () {
					again(retry);
				});
		}

		// focusAfter puts the focus back on the control that had it (by its
		// id), else on the first button of its row, else on the section's
		// heading.
		function focusAfter(section, sentId, rowId) {
			var row = rowId && document.getElementById(rowId);
			var target = (sentId && document.getElementById(sentId)) ||
				(row && row.querySelector("button")) ||
				section.querySelector("h2");
			if (target) {
				if (target.tagName === "H2") {
					target.setAttribute("tabindex", "-1");
				}
				target.focus();
			}
		}

		function send(form, submitter) {
			var body = new URLSearchParams(new FormData(form));
			if (submitter && submitter.name) {
				body.append(submitter.name, submitter.value);
			}
			var sentId = submitter && submitter.id;
			var row = form.closest("[data-live-part]");
			var rowId = row && row.id;
			form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
			gen++;
			fetch(new URL(form.getAttribute("action"), location.origin), {
				method: "POST", body: body, credentials: "same-origin", cache: "no-store",
				headers: { "Accept": "text/html" }
			})
				.then(function (res) {
					return res.text().then(function (html) { return { res: res, html: html }; });
				})
				.then(function (answer) {
					gen++;
					var doc = parse(answer.html);
					var fresh = doc.getElementById(id);
					var section = current();
					if (!fresh || !section || !answer.res.ok) {
						if (answer.res.redirected) {
							window.location.assign(answer.res.url);
						} else {
							document.documentElement.replaceWith(document.adoptNode(doc.documentElement));
						}
						return;
					}
					var flashes = document.getElementById("flashes");
					var freshFlashes = doc.getElementById("flashes");
					if (flashes && freshFlashes) {
						flashes.replaceWith(document.adoptNode(freshFlashes));
					}
					fresh.dataset.liveStarted = "1";
					section.replaceWith(document.adoptNode(fresh));
					focusAfter(fresh, sentId, rowId);
				})
				.catch(function () {
					// The daemon did not answer: the plain form tells the user.
					gen++;
					HTMLFormElement.prototype.submit.call(form);
				});
		}

		document.addEventListener("submit", function (ev) {
			var form = ev.target;
			var section = current();
			if (!section || !form.hasAttribute("data-live-form") || !section.contains(form)) {
				return;
			}
			ev.preventDefault();
			send(form, ev.submitter);
		});
		again(every);
	}

	document.querySelectorAll("section[data-live]").forEach(start);
})();
