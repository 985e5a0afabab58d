// A SCIM 2.0 server for Roster's interoperability tests: SCIMMY (the protocol: schemas, filters,
// PATCH, Bulk, ListResponse paging) mounted by scimmy-routers (the Express routes), with the
// smallest in-memory handlers SCIMMY asks an application for (ingress, egress, degress).
//
//   node server.js <package folder> <port> <token> [page size]
//
// <package folder> is tests/support/servers/scimmy-express4 or scimmy-express5: express, scimmy
// and scimmy-routers are loaded from its node_modules, so one glue serves both Express versions.
// SCIMMY_QUERY_SHIM=1 (Express 5 only) makes `req.query` a plain writable object again, as it was
// in Express 4: scimmy-routers turns `startIndex` and `count` into numbers by assigning to it,
// which Express 5's getter silently drops (SCIMMY then answers every page from the first).
"use strict";
const path = require("node:path");
const { createRequire } = require("node:module");

const [folder, port, token, pageSize] = process.argv.slice(2);
const load = createRequire(path.resolve(folder, "package.json"));
const express = load("express");
const SCIMMY = load("scimmy");
const { SCIMMYRouters } = load("scimmy-routers");

/** In-memory resources of one type: what an application's database would be. */
function store(Resource, unique) {
    const items = new Map();
    let next = 1;
    Resource
        .ingress((resource, instance) => {
            const now = new Date().toISOString();
            const old = resource.id ? items.get(resource.id) : undefined;
            if (resource.id && !old) throw new Error("not found");
            const clash = unique && [...items.values()].find(
                (r) => r.id !== resource.id && String(r[unique]).toLowerCase() === String(instance[unique]).toLowerCase());
            if (clash) throw new SCIMMY.Types.Error(409, "uniqueness", `${unique} ${instance[unique]} is taken`);
            const id = resource.id ?? String(next++);
            const record = { ...instance, id, meta: { created: old?.meta.created ?? now, lastModified: now } };
            items.set(id, record);
            return record;
        })
        .egress((resource) => {
            if (resource.id && !items.has(resource.id)) throw new Error("not found");
            const all = [...items.values()];
            return resource.filter ? resource.filter.match(all) : all;
        })
        .degress((resource) => {
            if (!items.delete(resource.id)) throw new Error("not found");
        });
}

SCIMMY.Resources.declare(SCIMMY.Resources.User, {
    extensions: [{ schema: SCIMMY.Schemas.EnterpriseUser, required: false }],
});
SCIMMY.Resources.declare(SCIMMY.Resources.Group);
store(SCIMMY.Resources.User, "userName");
store(SCIMMY.Resources.Group, "displayName");

const app = express();
// One line per request, as a web server's access log: the tests count requests by it.
app.use((req, res, next) => {
    res.on("finish", () => console.log(`"${req.method} ${req.originalUrl}" ${res.statusCode}`));
    next();
});
if (process.env.SCIMMY_QUERY_SHIM === "1") {
    app.use((req, res, next) => {
        Object.defineProperty(req, "query", { value: { ...req.query }, writable: true, enumerable: true, configurable: true });
        next();
    });
}
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (req) => {
        if (req.header("Authorization") !== `Bearer ${token}`) throw new Error("Authorization failed");
        return "roster";
    },
}));
// After the routers, which set their defaults: a small page, so a few users span pages.
if (pageSize) SCIMMY.Config.set({ filter: { supported: true, maxResults: Number(pageSize) } });
app.listen(Number(port), "127.0.0.1", () => console.log(`listening on 127.0.0.1:${port}`));
