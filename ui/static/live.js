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
// section is replaced and polling stops. An answer without the section
// (the session ended, the section is gone) reloads the page; a failed
// request (the daemon restarting) is tried again, more slowly.
(function () {
	"use strict";
	var fast = 1000, slow = 3000;

	function start(section) {
		if (section.dataset.liveStarted) {
			return;
		}
		section.dataset.liveStarted = "1";
		var url = section.dataset.live;
		var every = parseInt(section.dataset.liveEvery, 10);
		if (!(every > 0)) {
			every = fast;
		}
		var retry = Math.max(every, slow);
		function again(delay) {
			window.setTimeout(poll, delay);
		}
		function poll() {
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
					var doc = new DOMParser().parseFromString(html, "text/html");
					var fresh = doc.getElementById(section.id);
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
						if (next) {
							part.replaceWith(document.adoptNode(next));
						}
					});
					again(every);
				})
				.catch(function () {
					again(retry);
				});
		}
		again(every);
	}

	document.querySelectorAll("section[data-live]").forEach(start);
})();
