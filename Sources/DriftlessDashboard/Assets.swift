/// The dashboard's stylesheet and script, served from `/static/` so the Content-Security-Policy can
/// forbid inline styles and scripts. No fonts or files from elsewhere: the page works offline.
public enum Assets {
    /// System fonts, status colours that always come with a word, light and dark themes (the system's by
    /// default, or the one chosen with the theme switch).
    public static let stylesheet = """
        :root {
          color-scheme: light;
          --bg: #f6f7f9; --panel: #ffffff; --text: #1b1f24; --muted: #5b6470; --line: #d9dee4; --head: #eef1f4;
          --accent: #1f5fbf; --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff1c2;
          --bad: #c0262d; --bad-bg: #ffe0e0; --idle: #6e7781; --idle-bg: #eaeef2; --focus: #1f5fbf;
          --lane: #8c959f; --box: #ffffff;
        }
        @media (prefers-color-scheme: dark) {
          :root:not([data-theme="light"]) {
            color-scheme: dark;
            --bg: #0f1216; --panel: #171b21; --text: #e6e9ed; --muted: #9aa4af; --line: #2c333c; --head: #1e242b;
            --accent: #6ea8fe; --ok: #56d364; --ok-bg: #12361d; --warn: #e3b341; --warn-bg: #3a2e0a;
            --bad: #ff7b72; --bad-bg: #45161a; --idle: #8b949e; --idle-bg: #262c33; --focus: #6ea8fe;
            --lane: #6e7681; --box: #1c2128;
          }
        }
        :root[data-theme="dark"] {
          color-scheme: dark;
          --bg: #0f1216; --panel: #171b21; --text: #e6e9ed; --muted: #9aa4af; --line: #2c333c; --head: #1e242b;
          --accent: #6ea8fe; --ok: #56d364; --ok-bg: #12361d; --warn: #e3b341; --warn-bg: #3a2e0a;
          --bad: #ff7b72; --bad-bg: #45161a; --idle: #8b949e; --idle-bg: #262c33; --focus: #6ea8fe;
          --lane: #6e7681; --box: #1c2128;
        }
        * { box-sizing: border-box; }
        html { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
        body { margin: 0; background: var(--bg); color: var(--text); }
        a { color: var(--accent); }
        a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible {
          outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 3px;
        }
        code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.92em; }
        .skip { position: absolute; left: -999px; }
        .skip:focus { left: 8px; top: 8px; background: var(--panel); padding: 6px 10px; z-index: 10; }
        header.top { display: flex; align-items: center; gap: 18px; padding: 10px 24px; background: var(--panel);
          border-bottom: 1px solid var(--line); flex-wrap: wrap; }
        .brand { font-weight: 700; font-size: 1.1rem; letter-spacing: 0.01em; color: var(--text); text-decoration: none; }
        .brand span { color: var(--accent); }
        nav.main { display: flex; gap: 4px; flex-wrap: wrap; }
        nav.main a { padding: 5px 10px; border-radius: 6px; text-decoration: none; color: var(--muted); }
        nav.main a:hover { background: var(--head); color: var(--text); }
        nav.main a[aria-current="page"] { background: var(--head); color: var(--text); font-weight: 600; }
        .who { margin-left: auto; display: flex; align-items: center; gap: 10px; color: var(--muted); font-size: 0.9rem; }
        .who form { margin: 0; }
        .live { font-size: 0.8rem; padding: 2px 8px; border-radius: 10px; background: var(--idle-bg); color: var(--idle); }
        .live.on { background: var(--ok-bg); color: var(--ok); }
        main { max-width: 1320px; margin: 0 auto; padding: 20px 24px 48px; }
        main.wide { max-width: none; }
        h1 { font-size: 1.45rem; margin: 4px 0 14px; }
        h2 { font-size: 1.1rem; margin: 26px 0 10px; }
        .sub { color: var(--muted); margin: -8px 0 16px; }
        .grid { display: grid; gap: 14px; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); }
        .card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
        .card h3 { margin: 0 0 6px; font-size: 0.85rem; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); }
        .big { font-size: 1.6rem; font-weight: 650; }
        table { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
          overflow: hidden; font-size: 0.93rem; }
        th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: var(--head); font-weight: 600; color: var(--muted); font-size: 0.82rem; text-transform: uppercase; letter-spacing: 0.04em; }
        tr:last-child td { border-bottom: 0; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.82rem; font-weight: 600; white-space: nowrap;
          border: 1px solid transparent; }
        .badge::before { content: ""; display: inline-block; width: 7px; height: 7px; border-radius: 50%; margin-right: 6px;
          background: currentColor; vertical-align: 1px; }
        .ok { background: var(--ok-bg); color: var(--ok); }
        .warn { background: var(--warn-bg); color: var(--warn); }
        .bad { background: var(--bad-bg); color: var(--bad); }
        .idle { background: var(--idle-bg); color: var(--idle); }
        .muted { color: var(--muted); }
        .empty { color: var(--muted); padding: 14px 16px; background: var(--panel); border: 1px dashed var(--line); border-radius: 10px; }
        pre.plan { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; overflow-x: auto;
          white-space: pre; line-height: 1.4; }
        meter { width: 120px; height: 10px; vertical-align: middle; }
        .bar { display: flex; align-items: center; gap: 8px; white-space: nowrap; }
        form.signin { max-width: 440px; margin: 8vh auto; background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 26px; }
        form.signin h1 { margin-top: 0; }
        label { display: block; font-weight: 600; margin-bottom: 6px; }
        input[type=password], input[type=text] { width: 100%; padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px;
          background: var(--bg); color: var(--text); font: inherit; }
        button, .button { font: inherit; padding: 7px 14px; border-radius: 6px; border: 1px solid var(--line); background: var(--head);
          color: var(--text); cursor: pointer; text-decoration: none; display: inline-block; }
        button.primary { background: var(--accent); border-color: var(--accent); color: #fff; margin-top: 14px; }
        .error { background: var(--bad-bg); color: var(--bad); padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; }
        .hint { color: var(--muted); font-size: 0.88rem; }
        .row { display: flex; gap: 10px; align-items: end; flex-wrap: wrap; }
        .row > div { flex: 1; min-width: 220px; }
        .themes { display: flex; gap: 2px; font-size: 0.82rem; }
        .themes a { padding: 2px 6px; border-radius: 5px; text-decoration: none; color: var(--muted); }
        .themes a[aria-current="true"] { background: var(--head); color: var(--text); }
        ul.plain { list-style: none; padding: 0; margin: 0; }
        ul.plain li { padding: 3px 0; }
        .fields td:first-child { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
        .topology { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; overflow: auto; max-height: 80vh; }
        .topology svg { display: block; }
        .legend { display: flex; gap: 14px; flex-wrap: wrap; margin: 8px 0 12px; font-size: 0.88rem; color: var(--muted); }
        footer { color: var(--muted); font-size: 0.82rem; text-align: center; padding: 0 0 24px; }
        @media (max-width: 700px) { main { padding: 14px; } .who { margin-left: 0; } }
        """

    /// What `/static/dashboard.css` serves: the page's rules and the topology's.
    public static var fullStylesheet: String { stylesheet + "\n" + Topology.style + "\n" }

    /// Live updates: when the server sends an event (drift found, a run finished), fetch this page again
    /// and put its `<main>` in place of the current one. Without JavaScript the pages work the same,
    /// refreshed by hand (or every 30 s through `<noscript>`).
    public static let script = """
        (function () {
          var badge = document.getElementById('live');
          if (!window.EventSource || !window.fetch || !badge) return;
          var busy = false, again = false;
          function refresh() {
            if (busy) { again = true; return; }
            busy = true;
            fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
              .then(function (response) { return response.ok ? response.text() : null; })
              .then(function (text) {
                if (!text) return;
                var next = new DOMParser().parseFromString(text, 'text/html');
                var fresh = next.querySelector('main'), current = document.querySelector('main');
                if (fresh && current) { current.replaceWith(fresh); document.title = next.title; }
              })
              .catch(function () {})
              .then(function () { busy = false; if (again) { again = false; refresh(); } });
          }
          var source = new EventSource('/events');
          source.onopen = function () { badge.textContent = 'live'; badge.className = 'live on'; };
          source.onerror = function () { badge.textContent = 'reconnecting'; badge.className = 'live'; };
          source.addEventListener('drift', refresh);
          source.addEventListener('run', refresh);
        })();
        """
}
