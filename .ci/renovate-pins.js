// renovate.json's regex managers must still find the pins in ee/appliance/release.yaml, with the
// values the file pins, or Renovate would silently stop updating them. Run by .ci/run with the
// machine's Node, after renovate-config-validator.
"use strict";
const fs = require("fs");
const config = JSON.parse(fs.readFileSync("renovate.json", "utf8"));
const intent = fs.readFileSync("ee/appliance/release.yaml", "utf8");
const pinned = {
  talos: /^talos:\n\s+version:\s*(v\S+)/m.exec(intent),
  kubernetes: /^kubernetes:\n\s+version:\s*(v\S+)/m.exec(intent),
};
let failed = false;
for (const manager of config.customManagers) {
  const name = manager.depNameTemplate;
  const found = new RegExp(manager.matchStrings[0]).exec(intent);
  const value = found && found.groups.currentValue;
  const expected = pinned[name] && pinned[name][1];
  if (!value || value !== expected) {
    console.error(`renovate.json: the ${name} manager finds ${value} in ee/appliance/release.yaml, which pins ${expected}`);
    failed = true;
  } else {
    console.log(`renovate.json: ${name} ${value} found in ee/appliance/release.yaml`);
  }
}
process.exit(failed ? 1 : 0);
