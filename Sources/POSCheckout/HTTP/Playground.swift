/// A small GraphQL playground page (no external scripts): a query, variables and a token,
/// sent with fetch. For trying the API by hand; the cashier screen is the UI.
enum Playground {
    static let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>pos-api GraphQL playground</title>
        <style>
        body{font:14px system-ui,sans-serif;margin:1rem;background:#f7f7f7;color:#111}
        textarea,input{font:13px ui-monospace,monospace;width:100%;box-sizing:border-box;padding:.4rem}
        textarea{height:14rem}pre{background:#fff;border:1px solid #ccc;padding:.5rem;white-space:pre-wrap;min-height:8rem}
        button{font-size:1rem;padding:.4rem 1rem}label{display:block;margin-top:.6rem;font-weight:600}
        .row{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
        </style></head><body>
        <h1>pos-api GraphQL</h1>
        <p>The schema: <a href="/graphql/schema.graphql">/graphql/schema.graphql</a>. Sign in with the <code>login</code> mutation and paste its token below.</p>
        <div class="row"><div>
        <label for="query">Query</label>
        <textarea id="query">mutation { login(username: "john", password: "password123", terminalId: "TERM001") { token employee { id username role } terminal { terminalId loginTime } } }</textarea>
        <label for="variables">Variables (JSON)</label><input id="variables" value="{}">
        <label for="token">Bearer token</label><input id="token" autocomplete="off">
        <p><button id="run">Run (Ctrl+Enter)</button></p>
        </div><div><label for="result">Result</label><pre id="result" role="status" aria-live="polite"></pre></div></div>
        <script type="module">
        const $ = (id) => document.getElementById(id);
        async function run() {
          let variables = {};
          try { variables = JSON.parse($("variables").value || "{}"); } catch (e) { $("result").textContent = "variables: " + e; return; }
          const headers = {"content-type": "application/json", "accept": "application/graphql-response+json, application/json"};
          if ($("token").value) headers.authorization = "Bearer " + $("token").value.trim();
          const response = await fetch("/graphql", {method: "POST", headers, body: JSON.stringify({query: $("query").value, variables})});
          const body = await response.json();
          const token = body?.data?.login?.token;
          if (token) $("token").value = token;
          $("result").textContent = response.status + "\\n" + JSON.stringify(body, null, 2);
        }
        $("run").addEventListener("click", run);
        document.addEventListener("keydown", (e) => { if (e.ctrlKey && e.key === "Enter") run(); });
        </script></body></html>
        """
}
