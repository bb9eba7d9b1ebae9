#!/usr/bin/env python3
"""Checks the GitHub Actions workflows' structure (actionlint cannot be installed here: its PyPI
package downloads the Go binary from GitHub at install time): every workflow parses, pull requests
run the README's test command, prod deploys only after dev and in the protected `prod`
environment, OIDC tokens (`id-token: write`) only in deploy jobs, actions pinned to a version."""
import glob, os, re, sys
import yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flows = {os.path.basename(p): yaml.safe_load(open(p)) for p in glob.glob(os.path.join(root, ".github", "workflows", "*.yml"))}
problems = []
ci, deploy = flows.get("ci.yml"), flows.get("deploy.yml")
on = lambda f: f.get(True) or f.get("on")  # YAML 1.1 reads a bare `on:` key as true
if not ci or "pull_request" not in on(ci) or not any("make test" in s.get("run", "") for s in ci["jobs"]["test"]["steps"]):
    problems.append("ci.yml must run `make test` on pull requests")
if deploy:
    jobs = deploy["jobs"]
    if jobs.get("deploy-prod", {}).get("needs") != "deploy-dev" or jobs["deploy-prod"].get("environment") != "prod":
        problems.append("deploy-prod must need deploy-dev and run in the `prod` environment")
    for name, job in jobs.items():
        token = job.get("permissions", {}).get("id-token") == "write"
        if token != name.startswith("deploy-"):
            problems.append(f"{name}: id-token: write belongs to deploy jobs only")
else:
    problems.append("deploy.yml is missing")
for name, flow in flows.items():
    if flow.get("permissions", {}).get("contents") != "read":
        problems.append(f"{name}: default permissions must be contents: read")
    for job in flow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step and not re.search(r"@v\d+$", step["uses"]):
                problems.append(f"{name}: {step['uses']} is not pinned to a major version")
for p in problems:
    print("FAILED", p)
print(f"workflows: {len(flows)} checked, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
