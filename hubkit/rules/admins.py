"""Rules for the operators' admin accounts (``admins``) and how hubkit connects (``access``).

Bootstrap disables root and password logins, so a hub must keep at least one
admin with a usable key; hence these are errors, not warnings.
"""

from __future__ import annotations

from hubkit import sshkeys
from hubkit.rules import POSIX_USER, _finding, rule

# Accounts every Debian host has, or that hubkit itself uses.
RESERVED = frozenset({"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
                      "proxy", "www-data", "backup", "list", "irc", "nobody", "systemd-network",
                      "systemd-resolve", "messagebus", "sshd", "_chrony", "dnsmasq", "sudo", "staff",
                      "users", "adm", "admin"})


@rule("HK121", "admin username is not a valid POSIX name, is reserved, or is also a staff member",
      "use a personal lowercase name like op-lange that no staff member and no system account has")
def admin_names(recs):
    for rec in recs:
        staff = {m.username for m in rec.model.staff}
        seen: set[str] = set()
        for i, a in enumerate(rec.model.admins):
            path = ("admins", i, "username")
            if not POSIX_USER.match(a.username):
                yield _finding("HK121", rec, path, f"admin username {a.username!r} is not a valid POSIX user name")
            elif a.username in RESERVED:
                yield _finding("HK121", rec, path, f"admin username {a.username!r} is a reserved system name")
            elif a.username in staff:
                yield _finding("HK121", rec, path, f"admin {a.username!r} is also a staff member of hub {rec.id!r}")
            elif a.username in seen:
                yield _finding("HK121", rec, path, f"admin {a.username!r} is declared twice")
            seen.add(a.username)


@rule("HK122", "malformed SSH public key, or not ed25519 (hub hosts accept ed25519 user keys only)",
      "paste the one line of the admin's .pub file, e.g. 'ssh-ed25519 AAAA... name@host'; "
      "make one with `ssh-keygen -t ed25519`")
def admin_keys(recs):
    for rec in recs:
        for i, a in enumerate(rec.model.admins):
            for k, key in enumerate(a.ssh_keys):
                why = sshkeys.problem(key)
                if why:
                    yield _finding("HK122", rec, ("admins", i, "ssh_keys", k),
                                   f"SSH key {k + 1} of admin {a.username!r}: {why}")


@rule("HK123", "admin restricted to a hub that is not in the fleet",
      "fix the hub id in the admin's `hubs` list, or drop the entry")
def admin_hubs_known(recs):
    ids = {r.id for r in recs}
    for rec in recs:
        for i, a in enumerate(rec.model.admins):
            for k, hub in enumerate(a.hubs):
                if hub not in ids:
                    yield _finding("HK123", rec, ("admins", i, "hubs", k),
                                   f"admin {a.username!r} lists hub {hub!r}, which is not in the fleet")


@rule("HK124", "hub has no admin account",
      "declare `admins` in fleet.yaml defaults or the region (username, ssh_keys), "
      "or list this hub in an admin's `hubs`")
def hub_has_admin(recs):
    for rec in recs:
        if not rec.model.hub_admins():
            path = ("admins",) if rec.model.admins else ("id",)
            yield _finding("HK124", rec, path,
                           f"hub {rec.id!r} has no admin: after bootstrap nobody could log in to its hosts")


@rule("HK125", "access.user is not an admin of the hub",
      "name one of the hub's admins, or remove access.user to connect as the first admin")
def access_user_is_admin(recs):
    for rec in recs:
        user = rec.model.access.user
        if user and user not in {a.username for a in rec.model.hub_admins()}:
            yield _finding("HK125", rec, ("access", "user"),
                           f"access.user {user!r} is not an admin of hub {rec.id!r}")
