"""Stage 6: answering queries from the index."""
from .filters import InvalidFilter, SearchFilters
from .hybrid import NoDefinition, SearchOptions, Searcher, SearchResult, fts_expression, names_chunk
from .symbols import rank_symbols, symbol_tier

__all__ = ["InvalidFilter", "NoDefinition", "SearchFilters", "SearchOptions", "SearchResult", "Searcher", "fts_expression", "names_chunk", "rank_symbols", "symbol_tier"]
