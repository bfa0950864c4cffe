"""What an agent should do about a failed, unconfirmed or expired task: the remedy table, as data.

The provider codes follow DashScope's own error table (Model Studio error codes; see
reference/wire-formats.md, "Error codes"): content and parameter errors are fixed, not
retried; provider-side failures may be generated again; billing, quota, key and access
errors are settled in the console before anything is generated again. Codes that start
with a lower-case letter are this server's own.
"""

from __future__ import annotations

_PROVIDER_FAILURE = (
    "generate again (the provider reported this task failed, and DashScope bills only tasks that succeed)."
)
_BILLING = (
    "The account cannot pay for this (billing or quota); do not generate again until it is settled in the "
    "provider's console."
)
_ACCESS = (
    "The API key may not use this model or workspace; check the key, its region and the model's activation in "
    "the provider's console before generating again."
)

REMEDIES: dict[str, str] = {
    # Fix the request.
    "InvalidParameter": "A parameter was refused by the provider; fix it and generate again.",
    "InvalidURL": "An input URL could not be fetched by the provider; use a public http(s) URL.",
    "BadRequest.InputDownloadFailed": "The provider could not download an input file; check the URL is public "
    "(retry at most once).",
    "BadRequest.TooLarge": "An input is too large for the provider; use a smaller file and generate again.",
    "UnsupportedFileFormat": "An input's format is not supported; convert it and generate again.",
    # Change the content.
    "DataInspectionFailed": "Content moderation refused the prompt or media; rephrase and generate again.",
    "IPInfringementSuspect": "The request looks like protected IP; change the content and generate again.",
    # The provider's side: generate again.
    "InternalError": f"A provider-side failure, not your request; {_PROVIDER_FAILURE}",
    "InternalError.Algo": f"A provider-side failure, not your request; {_PROVIDER_FAILURE}",
    "InternalError.Timeout": f"The provider timed out; {_PROVIDER_FAILURE}",
    "SystemError": f"A provider-side failure; {_PROVIDER_FAILURE}",
    "RequestTimeOut": "The provider timed out receiving the request, so no task was created; generate again.",
    "ModelUnavailable": "The model is briefly unavailable at the provider; generate again in a minute.",
    "Throttling": "The provider is rate-limiting this account; wait a minute, then generate again.",
    "Throttling.RateQuota": "The provider is rate-limiting this account; wait a minute, then generate again.",
    "LimitRequests": "The provider is rate-limiting this account; wait a minute, then generate again.",
    # The account: settle it first.
    "Arrearage": _BILLING,
    "Throttling.AllocationQuota": _BILLING,
    "PrepaidBillOverdue": _BILLING,
    "PostpaidBillOverdue": _BILLING,
    "CommodityNotPurchased": _BILLING,
    "AllocationQuota.FreeTierOnly": _BILLING,
    "InvalidApiKey": "The API key was refused (a key from another region is refused too); fix "
    "DASHSCOPE_API_KEY or DASHSCOPE_REGION and restart the server before generating again.",
    "AccessDenied": _ACCESS,
    "AccessDenied.Unpurchased": _ACCESS,
    "Model.AccessDenied": _ACCESS,
    "Workspace.AccessDenied": _ACCESS,
    "ModelNotFound": "The provider does not know this model here; choose a model from wan-video://models.",
    "WorkSpaceNotFound": "The workspace is unknown to the provider; fix DASHSCOPE_WORKSPACE_ID and restart.",
    # This server's own codes.
    "not_submitted": "The provider refused the request, so no task was created; call generate_video again.",
    "not_confirmed": "Whether this task was created or charged is not known; check the provider's billing console "
    "before generating again (with force_new=true).",
    "expired": "The provider forgot this task (task ids live 24 hours); generate again if you still need it.",
}

GENERIC_REMEDY = "Read the provider's message above; adjust the request if it names a parameter, else generate again."
# Whatever code an unclear submit carries, the advice is the same: it may exist and be billed.
UNCONFIRMED_REMEDY = (
    "Not confirmed; do not generate again yet: the task may exist at the provider. Check it again "
    "later with check_task."
)
# The task states whose error code is the agent's business.
STATES_WITH_ERRORS = ("failed", "unknown", "expired")


def remedy_for(state: str, code: str) -> str:
    """What to do about a task in ``state`` whose error code is ``code``."""
    if state == "unknown":
        return UNCONFIRMED_REMEDY
    return REMEDIES.get(code, GENERIC_REMEDY)
