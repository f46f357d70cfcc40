"""ping, session_logout, config_show and batch."""

from __future__ import annotations

from typing import Any

from .. import errors
from . import API_VERSION, COMMANDS, SERVER_VERSION, Call, command, execute

BATCH_SERVER_URL = "batch"


@command("ping")
def ping(call: Call) -> dict[str, Any]:
    return {"summary": f"IPA server version {SERVER_VERSION}. API version {API_VERSION}"}


@command("session_logout")
def session_logout(call: Call) -> dict[str, Any]:
    # The transport drops the session; the command itself only answers.
    return {"result": None}


@command("config_show")
def config_show(call: Call) -> dict[str, Any]:
    """The global configuration, which every authenticated user reads ("System: Read Global
    Configuration", ipaserver/plugins/config.py:157-177, bind type all)."""
    entry = call.tree.directory.get(call.tree.config_dn)
    if entry is None:
        raise errors.NotFound(reason="configuration not found")
    view: dict[str, Any] = {"dn": entry.dn, "cn": entry.get("cn")}
    for name in ("ipamaxusernamelength", "ipadefaultprimarygroup"):
        if entry.get(name):
            view[name] = entry.get(name)
    # A Bool parameter (config.py:296-300): a bare JSON boolean, absent when unset.
    if entry.get("ipauserdefaultsubordinateid"):
        view["ipauserdefaultsubordinateid"] = entry.first("ipauserdefaultsubordinateid") == "TRUE"
    return {"result": view, "value": None, "summary": None}


@command("batch", ("methods", "keeponly"))
def batch(call: Call) -> dict[str, Any]:
    if "methods" in call.options and call.args:
        raise errors.OverlapError(names="['methods']")
    methods = call.options.get("methods") if "methods" in call.options else call.args
    # python-freeipa wraps the list once more: params[0] == [[...calls...]].
    if len(methods) == 1 and isinstance(methods[0], list):
        methods = methods[0]
    results = []
    for sub_call in methods or []:
        results.append(_run_one(call, sub_call))
    return {"count": len(results), "results": results}


def _run_one(call: Call, sub_call: Any) -> dict[str, Any]:
    try:
        if not isinstance(sub_call, dict) or "method" not in sub_call:
            raise errors.JSONError(error='Request is missing "method"')
        params = sub_call.get("params") or [[], {}]
        args, options = ([*list(params), [], {}])[:2]
        options = {
            **options,
            "version": options.get("version", call.options.get("version", API_VERSION)),
        }
        if sub_call["method"] == "batch" or sub_call["method"] not in COMMANDS:
            raise errors.CommandError(name=sub_call["method"])
        result = execute(
            call.tree, call.caller, sub_call["method"], args or [], options, BATCH_SERVER_URL
        )
        return {**result, "error": None}
    except errors.PublicError as error:
        return {
            "error": error.message,
            "error_code": error.code,
            "error_name": error.name,
            "error_kw": error.data,
        }
    except Exception as error:
        return {
            "error": errors.InternalError().message,
            "error_code": 903,
            "error_name": "InternalError",
            "error_kw": {"error": str(error)},
        }
