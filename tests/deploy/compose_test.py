#!/usr/bin/python3
"""docker-compose.yml and the Dockerfile, checked against the binaries built in this tree.

No Docker engine runs where the tests run, so the container files must be right by construction.
This test checks what can be checked without one:

  compose   `docker-compose config` accepts docker-compose.yml.
  flags     every command a service or a healthcheck runs names a binary its image installs and
            only flags (and skctl commands) that binary defines: `slicekeeper --helpfull`,
            `skctl --help` / `--helpfull`, `etcd --help`, `etcdctl --help`.
  wiring    the addresses agree: skctl --server and healthchecks point at a slicekeeper
            service's --listen port, --etcd_endpoints at the etcd members' client URLs, and
            every member's --initial-cluster lists each member's peer URL; each member has its
            own volume.
  image     every stage is FROM debian:12, the builder installs with scripts/install-deps.sh
            (copied alone first), the images compose runs are not root, and the runtime stage
            has ENTRYPOINT slicekeeper and a HEALTHCHECK with skctl health.
  libs      every shared library `ldd` resolves for the built binaries comes (`dpkg -S`) from a
            package the runtime stage installs, so the image cannot miss one.

Usage: compose_test.py --source DIR --slicekeeper BIN --skctl BIN
Exit 0 when every check passes, 1 when one fails (each failure names the service and the flag,
library or line), 77 when every other check passed but docker-compose is not installed.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import yaml

SKIP = 77
BASE_IMAGE = "debian:12"
# skctl's short flags (client/skctl/flags.cc LongName).
SKCTL_SHORT = {"n": "namespace", "A": "all_namespaces", "l": "selector", "o": "output",
               "f": "filename"}
# Sanitizer runtimes appear in ldd of the ASan/UBSan build only; the image is built without them.
# clang links its runtimes statically: its sanitized binaries define __asan_init themselves.
SANITIZER_LIB = re.compile(r"/lib(asan|ubsan|tsan|lsan|hwasan)\.so")
SANITIZER_DEP_LIB = re.compile(r"/libatomic\.so")


class Checks:
    """Collects failures; each check adds its messages under a heading."""

    def __init__(self):
        self.failures = []
        self.notes = []

    def fail(self, what, message):
        self.failures.append(f"{what}: {message}")

    def note(self, message):
        self.notes.append(message)


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kwargs)


# --- The Dockerfile ---------------------------------------------------------------------------

def dockerfile_stages(path):
    """[{name, base, instructions: [(KEYWORD, args)]}], continuation lines joined."""
    stages, logical, pending = [], [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if pending and line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            logical.append(pending + line)
            pending = ""
    for line in logical:
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", args, re.IGNORECASE)
            stages.append({"name": m.group(2) or str(len(stages)), "base": m.group(1),
                           "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, args))
    return stages


def exec_form(args):
    """An instruction's argv: its JSON array, or the shell form split (wrapped by /bin/sh -c)."""
    try:
        value = json.loads(args)
        if isinstance(value, list):
            return [str(v) for v in value]
    except json.JSONDecodeError:
        pass
    return ["/bin/sh", "-c", args]


def last(stage, keyword):
    values = [a for k, a in stage["instructions"] if k == keyword]
    return values[-1] if values else None


def apt_packages(stage):
    """Packages the stage's RUN lines `apt-get install`."""
    packages = []
    for keyword, args in stage["instructions"]:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", args):
            words = shlex.split(command)
            while words and "=" in words[0]:  # DEBIAN_FRONTEND=noninteractive apt-get ...
                words.pop(0)
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                after = words[words.index("install") + 1:]
                packages += [w for w in after if not w.startswith("-")]
    return packages


def copied_binaries(stage):
    """{basename: destination} of the files the stage copies from another stage."""
    out = {}
    for keyword, args in stage["instructions"]:
        if keyword != "COPY" or "--from=" not in args:
            continue
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        dest = words[-1]
        for src in words[:-1]:
            out[os.path.basename(src)] = dest
    return out


def dpkg_owners(paths):
    """{path: package} for the paths dpkg knows, in one `dpkg -S` call (one call reads the whole
    database, so it is made once). Its database may name /lib or /usr/lib (merged /usr): each
    path is looked up as given, as its real path, and with /usr added or removed."""
    variants = {}
    for path in paths:
        for v in (path, os.path.realpath(path)):
            variants.setdefault(v, path)
            variants.setdefault(v[4:] if v.startswith("/usr/") else "/usr" + v, path)
    if not variants:
        return {}
    r = run(["dpkg", "-S"] + sorted(variants))  # exits 1 when some variant is unknown
    owners = {}
    for line in r.stdout.splitlines():
        package, sep, path = line.partition(": ")
        if sep and path in variants and "diversion" not in package:
            owners.setdefault(variants[path], package.split(":")[0].split(",")[0].strip())
    return owners


_program_owners = {}


def apt_binaries(programs, packages):
    """{program: package} of the programs (found on PATH here) that one of `packages` ships."""
    new = [p for p in programs if p not in _program_owners]
    found = {p: shutil.which(p) for p in new}
    owners = dpkg_owners([path for path in found.values() if path])
    for p, path in found.items():
        _program_owners[p] = owners.get(path)
    return {p: _program_owners[p] for p in programs if _program_owners[p] in packages}


# --- Binaries and their flags -------------------------------------------------------------------

class Binaries:
    """The programs compose runs, with the flags each defines (lazily, from their help)."""

    def __init__(self, slicekeeper, skctl, checks):
        self.paths = {"slicekeeper": slicekeeper, "skctl": skctl,
                      "etcd": shutil.which("etcd"), "etcdctl": shutil.which("etcdctl")}
        self.checks = checks
        self.cache = {}

    def help_text(self, program, flag):
        r = run([self.paths[program], flag])
        return r.stdout + r.stderr  # absl's --helpfull exits 1; etcd prints help on stderr

    def flags(self, program):
        """The set of flag names (dashes as underscores), or None when the program is absent."""
        if program in self.cache:
            return self.cache[program]
        path = self.paths.get(program)
        names = None
        if path and os.access(path, os.X_OK):
            if program == "slicekeeper":
                text = self.help_text(program, "--helpfull")
                names = set(re.findall(r"^\s+--([A-Za-z0-9_]+)\s", text, re.MULTILINE))
            elif program == "skctl":
                text = self.help_text(program, "--helpfull")
                names = set(re.findall(r"^\s+--([A-Za-z0-9_-]+)\s", text, re.MULTILINE))
            else:
                text = self.help_text(program, "--help")
                names = set(re.findall(r"--([a-z0-9][a-z0-9-]*)", text))
            names = {n.replace("-", "_") for n in names}
            if not names:
                self.checks.fail(program, f"no flags found in the help of {path}")
        self.cache[program] = names
        return names

    def skctl_commands(self):
        text = self.help_text("skctl", "--help")
        return set(re.findall(r"^\s+skctl (\w+)", text, re.MULTILINE))


def flag_name(arg):
    """'--etcd_prefix=/x' -> 'etcd_prefix'; '-n' -> 'n'; None for a positional argument."""
    if not arg.startswith("-") or arg in ("-", "--"):
        return None
    return arg.lstrip("-").split("=", 1)[0]


def check_argv(where, argv, binaries, installed, checks):
    """Checks one command line: the program is installed in the image and defines every flag."""
    if not argv:
        checks.fail(where, "no command")
        return
    if argv[0] in ("/bin/sh", "sh") and len(argv) == 3 and argv[1] == "-c":
        argv = shlex.split(argv[2])
    program = argv[0]
    if program not in installed:
        checks.fail(where, f"runs {program}, which its image does not install "
                           f"(it installs {', '.join(sorted(installed)) or 'nothing known'})")
        return
    names = binaries.flags(program)
    if names is None:
        checks.note(f"{where}: {program} is not installed here; its flags are not checked")
        return
    args = argv[1:]
    if program == "skctl":
        positional = [a for a in args if flag_name(a) is None]
        commands = binaries.skctl_commands()
        if not positional or positional[0] not in commands:
            checks.fail(where, f"skctl has no command {positional[0] if positional else '(none)'}"
                               f" (it has {', '.join(sorted(commands))}); write every skctl "
                               "flag as --flag=value so the command is the first positional")
    for arg in args:
        name = flag_name(arg)
        if name is None:
            continue
        if program == "skctl":
            name = SKCTL_SHORT.get(name, name)
        if program != "slicekeeper":  # absl in slicekeeper takes underscores only
            name = name.replace("-", "_")
        if name not in names:
            checks.fail(where, f"{program} has no flag --{flag_name(arg)} (used as {arg})")


# --- Wiring between services ---------------------------------------------------------------------

def flag_values(argv, name):
    return [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]


def host_port(address):
    address = re.sub(r"^\w+://", "", address)
    host, _, port = address.rpartition(":")
    return host, port


def check_server_wiring(services, argvs, programs, checks):
    """slicekeeper listens beyond its container; skctl and healthchecks use its --listen port."""
    listen = {}  # slicekeeper service -> its gRPC port
    for name, argv in argvs.items():
        if programs[name] == "slicekeeper":
            values = flag_values(argv, "listen")
            if not values:
                checks.fail(name, "slicekeeper without --listen (it would listen on 127.0.0.1 "
                                  "only, unreachable from other containers)")
                continue
            host, port = host_port(values[-1])
            if host not in ("0.0.0.0", "[::]", ""):
                checks.fail(name, f"--listen={values[-1]} is not reachable from other containers")
            listen[name] = port
    # skctl --server and healthchecks: at a slicekeeper service's --listen port.
    for name, argv in argvs.items():
        if programs[name] != "skctl":
            continue
        for value in flag_values(argv, "server"):
            for address in value.split(","):
                host, port = host_port(address)
                if listen.get(host) != port:
                    checks.fail(name, f"--server {address}: no slicekeeper service {host} "
                                      f"listens on port {port}")
    for name, port in listen.items():
        test = services[name].get("healthcheck", {}).get("test", [])
        servers = [a for v in flag_values(list(test), "server") for a in v.split(",")]
        if "health" not in test or not servers:
            checks.fail(name, "healthcheck is not `skctl health --server=...`")
        for address in servers:
            host, p = host_port(address)
            if host not in ("127.0.0.1", "localhost") or p != port:
                checks.fail(name, f"healthcheck --server={address} is not this container's "
                                  f"--listen port {port}")


def check_etcd_wiring(services, argvs, programs, checks):
    """Members named as their services, on their own volumes, every one in --initial-cluster;
    --etcd_endpoints names every member's client URL."""
    members = {n: a for n, a in argvs.items() if programs[n] == "etcd"}
    peers = {}
    clients = {}
    for name, argv in members.items():
        if flag_values(argv, "name") != [name]:
            checks.fail(name, f"--name must be the service name {name} (peers resolve it)")
        for url in flag_values(argv, "initial-advertise-peer-urls"):
            peers[name] = url
        for url in flag_values(argv, "advertise-client-urls"):
            clients[name] = url
        for url in (peers.get(name, ""), clients.get(name, "")):
            if host_port(url)[0] != name:
                checks.fail(name, f"advertises {url or 'no URL'}, not its service name {name}")
        volumes = services[name].get("volumes", [])
        data = flag_values(argv, "data-dir")
        mounts = [v.split(":")[1] for v in volumes if isinstance(v, str) and ":" in v]
        if not data or not any(data[0] == m or data[0].startswith(m + "/") for m in mounts):
            checks.fail(name, f"--data-dir {data} is not on a volume ({volumes})")
    expected = ",".join(f"{n}={peers.get(n)}" for n in sorted(members))
    for name, argv in members.items():
        got = flag_values(argv, "initial-cluster")
        if not got or ",".join(sorted(got[0].split(","))) != expected:
            checks.fail(name, f"--initial-cluster={got[0] if got else ''} should list every "
                              f"member's peer URL: {expected}")
    all_volumes = [v.split(":")[0] for n in members for v in services[n].get("volumes", [])
                   if isinstance(v, str)]
    if len(set(all_volumes)) != len(all_volumes):
        checks.fail("etcd", f"members share a volume: {all_volumes}")
    for name, argv in argvs.items():
        for value in flag_values(argv, "etcd_endpoints"):
            got = sorted(value.split(","))
            if got != sorted(clients.values()):
                checks.fail(name, f"--etcd_endpoints={value} should be every member's client "
                                  f"URL: {','.join(sorted(clients.values()))}")


# --- The checks ----------------------------------------------------------------------------------

def check_compose_config(compose, checks):
    exe = shutil.which("docker-compose")
    if exe is None:
        return False
    r = run([exe, "-f", compose, "config", "-q"], cwd=os.path.dirname(compose))
    if r.returncode != 0:
        checks.fail("docker-compose config", (r.stderr or r.stdout).strip())
    return True


def check_image(stages, checks):
    for stage in stages:
        known = [s["name"] for s in stages]
        if stage["base"] != BASE_IMAGE and stage["base"] not in known:
            checks.fail(f"Dockerfile stage {stage['name']}", f"FROM {stage['base']}, not "
                                                             f"{BASE_IMAGE}")
    builder = stages[0]
    runs = [a for k, a in builder["instructions"] if k == "RUN"]
    copies = [a for k, a in builder["instructions"] if k == "COPY"]
    if not any("scripts/install-deps.sh" in r for r in runs):
        checks.fail("Dockerfile builder", "does not install with scripts/install-deps.sh")
    if not copies or "scripts/install-deps.sh" not in copies[0].split()[0]:
        checks.fail("Dockerfile builder", "must COPY scripts/install-deps.sh alone before the "
                                          "source (layer caching)")
    runtime = stages[-1]
    if exec_form(last(runtime, "ENTRYPOINT") or "[]") != ["slicekeeper"]:
        checks.fail("Dockerfile runtime", 'ENTRYPOINT is not ["slicekeeper"]')
    healthcheck = last(runtime, "HEALTHCHECK") or ""
    if not re.search(r"CMD\s+\[\"skctl\",\s*\"health\"", healthcheck):
        checks.fail("Dockerfile runtime", "HEALTHCHECK is not CMD [\"skctl\", \"health\", ...]")


def check_user(stage, where, checks):
    user = last(stage, "USER")
    if user is None or user.split(":")[0] in ("root", "0"):
        checks.fail(where, f"stage {stage['name']} runs as root (USER {user})")


def statically_sanitized(binary):
    """True when the binary carries a sanitizer runtime itself (clang's -fsanitize links it in)."""
    r = run(["nm", "-D", "--defined-only", binary])
    return r.returncode == 0 and re.search(r" __(asan|tsan|ubsan)_init$", r.stdout, re.M) is not None


def check_libs(binaries, packages, checks):
    """Every library ldd resolves comes from one of `packages`."""
    libs = {}
    for binary in binaries:
        r = run(["ldd", binary])
        if r.returncode != 0:
            checks.fail("ldd", f"{binary}: {r.stderr.strip()}")
            continue
        # A sanitized binary also loads its runtimes' own dependencies (libatomic for ASan).
        sanitized = SANITIZER_LIB.search(r.stdout) is not None or statically_sanitized(binary)
        for line in r.stdout.splitlines():
            if "not found" in line:
                checks.fail("ldd", f"{binary}: {line.strip()}")
            m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
            if sanitized and m and SANITIZER_DEP_LIB.search(m.group(1)):
                continue
            if m and not SANITIZER_LIB.search(m.group(1)):
                libs.setdefault(m.group(1), set()).add(os.path.basename(binary))
    owners = dpkg_owners(libs)
    for lib in sorted(set(libs) - set(owners)):
        checks.fail("libs", f"{lib} (of {', '.join(sorted(libs[lib]))}) is in no Debian "
                            "package: the image cannot provide it")
    listed = set(packages)
    for lib, package in sorted(owners.items()):
        if package not in listed:
            checks.fail("Dockerfile runtime", f"{lib} (of {', '.join(sorted(libs[lib]))}) comes "
                                              f"from {package}, which the runtime stage does not "
                                              "install")
    unused = listed - set(owners.values()) - {"ca-certificates"}
    if unused:
        checks.note(f"runtime packages no binary links: {', '.join(sorted(unused))}")
    return len(libs)


def service_argv(service, stage):
    """What the container runs: entrypoint + command, each defaulting to the image's."""
    def as_list(value):
        return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]

    entrypoint = service.get("entrypoint")
    entrypoint = as_list(entrypoint) if entrypoint is not None else \
        exec_form(last(stage, "ENTRYPOINT") or "[]")
    command = service.get("command")
    if command is None and "entrypoint" not in service:
        command = exec_form(last(stage, "CMD") or "[]")
    return entrypoint + (as_list(command) if command is not None else [])


def image_healthcheck(stage):
    """The argv of the stage's HEALTHCHECK CMD ([] without one)."""
    health = last(stage, "HEALTHCHECK")
    return exec_form(re.sub(r"^.*?CMD\s+", "", health)) if health else []


def healthcheck_argv(test):
    if isinstance(test, str):
        return shlex.split(test)
    if test and test[0] == "CMD":
        return list(test[1:])
    if test and test[0] == "CMD-SHELL":
        return shlex.split(" ".join(test[1:]))
    return None  # NONE: disabled


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--slicekeeper", required=True)
    parser.add_argument("--skctl", required=True)
    opts = parser.parse_args()
    compose = os.path.join(opts.source, "docker-compose.yml")
    checks = Checks()
    binaries = Binaries(opts.slicekeeper, opts.skctl, checks)

    have_compose = check_compose_config(compose, checks)
    with open(compose) as f:
        services = yaml.safe_load(f)["services"]
    stages = dockerfile_stages(os.path.join(opts.source, "Dockerfile"))
    check_image(stages, checks)

    argvs, programs = check_services(services, stages, binaries, checks)
    check_image_commands(stages, binaries, checks)
    check_server_wiring(services, argvs, programs, checks)
    check_etcd_wiring(services, argvs, programs, checks)
    libs = check_libs([opts.slicekeeper, opts.skctl], apt_packages(stages[-1]), checks)

    for note in checks.notes:
        print(f"note: {note}")
    for failure in checks.failures:
        print(f"FAIL {failure}")
    print(f"compose_test: {len(services)} services, {len(stages)} Dockerfile stages, {libs} "
          f"libraries checked; {len(checks.failures)} failure(s)")
    if checks.failures:
        return 1
    if not have_compose:
        print("SKIPPED: docker-compose is not installed (scripts/install-deps.sh installs it), so "
              "`docker-compose config` did not check docker-compose.yml")
        return SKIP
    return 0


def check_services(services, stages, binaries, checks):
    """Checks what each service and its healthcheck run; returns ({service: argv},
    {service: program})."""
    by_name = {s["name"]: s for s in stages}
    argvs, programs = {}, {}
    for name, service in sorted(services.items()):
        build = service.get("build")
        if build is None:
            checks.fail(name, f"image {service.get('image')} is not built from the Dockerfile")
            continue
        target = build.get("target") if isinstance(build, dict) else None
        stage = by_name.get(target) if target else stages[-1]
        if stage is None:
            checks.fail(name, f"build target {target} is no stage of the Dockerfile")
            continue
        check_user(stage, name, checks)
        argv = service_argv(service, stage)
        argvs[name] = argv
        programs[name] = argv[0] if argv else None
        health = service.get("healthcheck", {})
        test = None if health.get("disable") else health.get("test")
        if test is None and not health.get("disable"):
            test = ["CMD"] + image_healthcheck(stage)
        health_argv = healthcheck_argv(test) if test else None
        # What the image has: what it copies from the builder, and the programs it runs that a
        # package it installs ships.
        installed = dict(copied_binaries(stage))
        run_programs = [a[0] for a in (argv, health_argv) if a and a[0] not in installed]
        installed.update(apt_binaries(run_programs, apt_packages(stage)))
        check_argv(f"service {name}", argv, binaries, installed, checks)
        if health_argv:
            check_argv(f"service {name} healthcheck", health_argv, binaries, installed, checks)
    return argvs, programs


def check_image_commands(stages, binaries, checks):
    """Each stage's HEALTHCHECK, and the runtime stage's ENTRYPOINT + CMD."""
    for stage in stages[1:]:
        if image_healthcheck(stage):
            argv = image_healthcheck(stage)
            installed = dict(copied_binaries(stage))
            installed.update(apt_binaries(argv[:1], apt_packages(stage)))
            check_argv(f"Dockerfile {stage['name']} HEALTHCHECK", argv, binaries, installed,
                       checks)
    runtime = stages[-1]
    check_argv("Dockerfile runtime ENTRYPOINT+CMD",
               exec_form(last(runtime, "ENTRYPOINT") or "[]") +
               exec_form(last(runtime, "CMD") or "[]"), binaries, copied_binaries(runtime), checks)


if __name__ == "__main__":
    sys.exit(main())
