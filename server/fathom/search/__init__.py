"""Stage 6: answering queries from the index."""
from .hybrid import SearchOptions, Searcher, SearchResult, fts_expression, names_chunk
from .symbols import rank_symbols, symbol_tier

__all__ = ["SearchOptions", "SearchResult", "Searcher", "fts_expression", "names_chunk", "rank_symbols", "symbol_tier"]
