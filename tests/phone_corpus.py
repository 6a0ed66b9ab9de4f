"""The yardstick of which numbers get a text (DESIGN §5.3): Google's
libphonenumber, in its Python port `phonenumbers` (pinned in
tools/requirements.txt to the metadata the service embeds), decides for
every region's example number of every type, and for each mutated (a digit
dropped, added or changed; national and international forms; formatting
characters), whether it is valid and of a type that receives SMS, and its
E.164. tests/phone_numbers.rs sends each through the real request handler
and requires the same decision.

A national form is parsed with the main region of the client's default
calling code, as the service parses it.

Usage: python tests/phone_corpus.py <out.json>
"""

import json
import random
import sys

import phonenumbers as pn
from phonenumbers import PhoneNumberFormat as Format
from phonenumbers import PhoneNumberType as Type

# The metadata the service embeds (shared/src/domain/phone/plans.rs).
METADATA_VERSION = "9.0.42"
TEXTABLE = {Type.MOBILE, Type.FIXED_LINE_OR_MOBILE}
TYPES = {
    name: getattr(Type, name)
    for name in [
        "FIXED_LINE", "MOBILE", "FIXED_LINE_OR_MOBILE", "TOLL_FREE", "PREMIUM_RATE",
        "SHARED_COST", "VOIP", "PERSONAL_NUMBER", "PAGER", "UAN", "VOICEMAIL", "UNKNOWN",
    ]
}
NAMES = {value: name for name, value in TYPES.items()}
# What people type between digits; the service takes each.
SEPARATORS = [" ", "-", ".", "/"]


def decide(text, default_code):
    """libphonenumber's decision: the E.164 to text, or None, and why."""
    region = pn.region_code_for_country_code(default_code)
    try:
        number = pn.parse(text, region)
    except pn.NumberParseException:
        return None, "unparsable"
    if number.extension or not pn.is_valid_number(number):
        return None, "invalid"
    line = pn.number_type(number)
    if line not in TEXTABLE:
        return None, NAMES[line]
    return pn.format_number(number, Format.E164), NAMES[line]


def formatted(text, rng):
    """`text` with separators and a pair of parentheses put in at random."""
    digits = list(text)
    out = []
    opened = False
    for i, c in enumerate(digits):
        out.append(c)
        if c.isdigit() and i + 1 < len(digits) and rng.random() < 0.3:
            if not opened and rng.random() < 0.2:
                out.append(" (")
                opened = True
            elif opened and rng.random() < 0.5:
                out.append(") ")
                opened = False
            else:
                out.append(rng.choice(SEPARATORS))
    if opened:
        out.append(")")
    return "".join(out)


def mutations(nsn, rng):
    """The national significant number with a digit dropped, added, or
    changed."""
    at = rng.randrange(len(nsn))
    changed = str((int(nsn[at]) + 1 + rng.randrange(9)) % 10)
    return [
        nsn[:-1],
        nsn[:at] + nsn[at + 1:],
        nsn + str(rng.randrange(10)),
        nsn[:at] + str(rng.randrange(10)) + nsn[at:],
        nsn[:at] + changed + nsn[at + 1:],
    ]


def cases():
    rng = random.Random(20261207)
    for region in sorted(pn.SUPPORTED_REGIONS):
        code = pn.country_code_for_region(region)
        metadata = pn.PhoneMetadata.metadata_for_region(region)
        prefix = metadata.national_prefix or ""
        for name, kind in TYPES.items():
            example = pn.example_number_for_type(region, kind)
            if example is None:
                continue
            nsn = pn.national_significant_number(example)
            inputs = [
                pn.format_number(example, Format.E164),
                pn.format_number(example, Format.INTERNATIONAL),
                pn.format_number(example, Format.NATIONAL),
                formatted(pn.format_number(example, Format.E164), rng),
                formatted(prefix + nsn, rng),
            ]
            for mutated in mutations(nsn, rng):
                if not mutated:
                    continue
                inputs.append(f"+{code}{mutated}")
                inputs.append(formatted(prefix + mutated, rng))
            for text in dict.fromkeys(inputs):
                texted, why = decide(text, code)
                yield {
                    "input": text,
                    "default_calling_code": str(code),
                    "region": region,
                    "example_of": name,
                    "texted": texted,
                    "why": why,
                }


def main(out):
    if pn.__version__ != METADATA_VERSION:
        sys.exit(f"phonenumbers {pn.__version__} is not the service's metadata {METADATA_VERSION}")
    corpus = list(cases())
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"phonenumbers": pn.__version__, "cases": corpus}, f, ensure_ascii=False)
    texted = sum(1 for c in corpus if c["texted"])
    print(f"{out}: {len(corpus)} numbers of {len(pn.SUPPORTED_REGIONS)} regions"
          f" (phonenumbers {pn.__version__}); {texted} to be texted")


if __name__ == "__main__":
    main(sys.argv[1])
