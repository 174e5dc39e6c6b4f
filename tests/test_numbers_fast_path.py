"""The shortcut for numbers already written as E.164 decides exactly as the full phonenumbers parse."""
import random

import phonenumbers
import pytest
from phonenumbers import NumberParseException, PhoneNumberFormat

from telephone import numbers

REGIONS = ("DE", "AT", "CH", "US", "IT", "AR", "GB", "FR", "BR", "RU", "JP", "IN", "CN")


def full_parse(text: str, region: str) -> str | None:
    """numbers.parse without the shortcut: phonenumbers.parse for every input, valid numbers only."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def sample(count: int, seed: int) -> list[str]:
    """'+' and digits from all over the world: example numbers, mutated ones, short, long, odd country codes."""
    rng = random.Random(seed)
    examples = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                examples.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            examples.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    texts = list(examples)
    while len(texts) < count:
        choice = rng.random()
        if choice < 0.35:  # an example with other digits after its country code
            base = rng.choice(examples)
            keep = rng.randint(2, 4)
            texts.append(base[:keep] + "".join(rng.choice("0123456789") for _ in base[keep:]))
        elif choice < 0.5:  # a national prefix or leading zeros after the country code
            base = rng.choice(examples)
            code = str(phonenumbers.parse(base).country_code)
            texts.append("+" + code + rng.choice(["0", "00", "1", "8", "15", "9"]) + base[1 + len(code):])
        elif choice < 0.65:  # shortened or lengthened
            base = rng.choice(examples)
            texts.append(base[:rng.randint(2, len(base))] if rng.random() < 0.5
                         else base + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6))))
        else:  # entirely random digits, any length, known or unknown country code
            texts.append("+" + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 18))))
    return texts


def test_sample_covers_both_outcomes_and_the_shortcut():
    texts = sample(3000, seed=7)
    decided = [text for text in texts if numbers._plain_international(text) is not numbers._UNDECIDED]
    assert len(decided) > len(texts) // 3
    assert any(numbers.parse(text, "DE").e164 is None for text in decided)
    assert any(numbers.parse(text, "DE").e164 == text for text in decided)


@pytest.mark.parametrize("seed", range(3))
def test_e164_shortcut_equals_full_parse(seed):
    texts = sample(8000, seed)
    for index, text in enumerate(texts):
        region = REGIONS[index % len(REGIONS)]
        assert numbers.parse(text, region).e164 == full_parse(text, region), (text, region)
        assert numbers.parse("tel:" + text, region).e164 == full_parse(text, region), (text, region)


@pytest.mark.parametrize("text", ["+4906131123456", "+39061234567", "+1 2025550123", "+49６１３１１２３４５６",
                                  "+9991234567", "+49", "+4961311234567890123", "+491"])
def test_notations_the_shortcut_leaves_to_the_full_parse(text):
    for region in REGIONS:
        assert numbers.parse(text, region).e164 == full_parse(text, region)
