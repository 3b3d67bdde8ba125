"""Find-similar's identifier-blind shape likeness (search/shape.py)."""
from fathom.search.shape import shape_similarity, shape_tokens, shingles

ORIGINAL = '''def normalize_file(file, separators=None):
    if separators is None:
        separators = NORMALIZE_PATH_SEPS
    norm_file = os.fspath(file)
    for sep in separators:
        norm_file = norm_file.replace(sep, posixpath.sep)
    if norm_file.startswith("/"):
        norm_file = norm_file[1:]
    return norm_file
'''
RENAMED = ORIGINAL.replace("normalize_file", "clean_path").replace("norm_file", "result") \
    .replace("separators", "seps").replace("file", "raw").replace("sep ", "s ").replace("(sep,", "(s,")
CALLER = '''def normalize_files(files, separators=None):
    norm_files = {}
    for path in files:
        norm_file = normalize_file(path, separators=separators)
        norm_files.setdefault(norm_file, []).append(path)
    return norm_files
'''


def test_names_do_not_count_keywords_and_punctuation_do():
    assert shape_tokens('if x: return f(1, "a")') == ["if", "I", ":", "return", "I", "(", "N", ",", "S", ")"]


def test_a_copy_with_its_names_changed_is_alike_and_a_caller_sharing_the_names_is_not():
    original = shingles(ORIGINAL)
    assert shape_similarity(original, shingles(RENAMED)) == 1.0
    assert shape_similarity(original, shingles(CALLER)) < 0.3
    assert shape_similarity(original, shingles("")) == 0.0
    assert shape_similarity(shingles("x"), shingles("y")) == 1.0  # shorter than a shingle: compared whole
