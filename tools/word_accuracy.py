#!/usr/bin/env python3
"""Whitespace-aware word accuracy on the Latin lines of evaluation sets (dev-only).

The shared scorer (peer_eval.py) ignores whitespace, so dropped word spaces (`is a waste` →
`isawaste`) cost nothing there; users see them. This script scores them:

  word_accuracy.py --cmd 'target/release/wenzi --jsonl {images}' DATASET_DIR [...]

For every ground-truth line holding a Latin letter whose text (NFKC, whitespace removed) is
found exactly among the predicted lines, it compares the whitespace-split words:
  lines      such GT lines found
  spaced     share of them whose words match exactly (every space right)
  word_p/r   word precision / recall over those lines (multiset of words)
"""
import argparse, collections, json, os, shlex, subprocess, sys, unicodedata


def nfkc(s):
    return unicodedata.normalize("NFKC", s)


def squash(s):
    return "".join(nfkc(s).split())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--cmd", required=True, help="batch command printing one JSON object per image ({images})")
    a = ap.parse_args()
    for d in a.datasets:
        items = [json.loads(l) for l in open(os.path.join(d, "gt.jsonl"), encoding="utf-8") if l.strip()]
        paths = [os.path.join(d, it["image"]) for it in items]
        out = subprocess.run(a.cmd.replace("{images}", " ".join(shlex.quote(p) for p in paths)),
                             shell=True, capture_output=True, text=True).stdout
        objs = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        found = exact = tp = npred = ngt = 0
        for it, o in zip(items, objs):
            preds = {}
            for l in o.get("lines", []):
                t = l["text"] if isinstance(l, dict) else l
                preds.setdefault(squash(t), t)
            for g in it["lines"]:
                if not any(c.isascii() and c.isalpha() for c in g):
                    continue
                p = preds.get(squash(g))
                if p is None:
                    continue
                found += 1
                gw, pw = nfkc(g).split(), nfkc(p).split()
                exact += gw == pw
                common = collections.Counter(gw) & collections.Counter(pw)
                tp += sum(common.values())
                npred += len(pw)
                ngt += len(gw)
        name = os.path.basename(os.path.normpath(d))
        f = lambda x, n: f"{100 * x / n:.1f}" if n else "-"
        print(f"{name:<12} lines {found:>4}  spaced {f(exact, found):>5}%  word_p {f(tp, npred):>5}%  word_r {f(tp, ngt):>5}%")


if __name__ == "__main__":
    sys.exit(main())
