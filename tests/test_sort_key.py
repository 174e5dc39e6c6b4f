"""The ASCII shortcut of sort_key gives what the full folding gives."""
import random
import unicodedata

from telephone.sync.normalize import _FOLD, sort_key


def full_fold(name):
    folded = unicodedata.normalize("NFKD", (name or "").casefold().translate(_FOLD))
    return "".join(char for char in folded if not unicodedata.combining(char)).strip()[:200]


def test_sort_key_equals_full_folding_for_ascii_and_other_names():
    rng = random.Random(1)
    alphabet = [chr(code) for code in range(128)] + list("äöüßÄÖÜéæøłđ ﬁ")
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 250))) for _ in range(5000)]
    for name in names + [None, "", "  Müller ", "ARZTE", "Ärzte"]:
        assert sort_key(name) == full_fold(name), name
    assert sort_key("Ärzte") == sort_key("arzte") == "arzte"
