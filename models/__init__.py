"""Pure math of interest tracking: no I/O, numpy arrays in and out."""

from models.item_table import ItemTable
from models.online_item_factors import OnlineItemFactors
from models.short_term import ShortTermInterest, UserVector
from models.topk import top_k

__all__ = ["ItemTable", "OnlineItemFactors", "ShortTermInterest", "UserVector", "top_k"]
