"""The LiteLLM admin: servers, virtual keys, models, key plans (one module each).

Calls to a proxy run in tasks on its network's queue; the admins dispatch and wait a few
seconds, else report the action as pending (the outcome lands on the row). The admins call
services only: rows change through integrations.litellm.keys, LiteLLM is told by tasks.
"""

from integrations.litellm.admin import keys, model_list, plans, servers, spend

__all__ = ["keys", "model_list", "plans", "servers", "spend"]
