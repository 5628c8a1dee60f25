#!/usr/bin/env python3
"""Every relative link in the repository's Markdown files names a file that
exists and, for `#anchor`, a heading of it (GitHub's anchor rules: lower case,
punctuation dropped, spaces to hyphens, -1, -2 for repeats). Run by lint.sh."""
import os, re, subprocess, sys, unicodedata

def lines(path):
    """The file's lines, with code blocks blanked and inline code cut out of
    everything but headings (whose anchors keep the code's text)."""
    out, fence = [], False
    for line in open(path, encoding="utf-8").read().split("\n"):
        if re.match(r"\s*```", line):
            fence, line = not fence, ""
        elif fence:
            line = ""
        elif not line.startswith("#"):
            line = re.sub(r"`[^`]*`", "", line)
        out.append(line)
    return out

def anchors(path):
    seen, found = {}, set()
    for line in lines(path):
        if m := re.match(r"#{1,6}\s+(.*?)\s*$", line):
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1)).lower()
            slug = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN").replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(f"{slug}-{n}" if n else slug)
    return found

files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
                       capture_output=True, text=True, check=True).stdout.split()
broken = 0
for f in files:
    for no, line in enumerate(lines(f), 1):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue
            path, _, frag = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
            if not os.path.exists(dest) or (frag and dest.endswith(".md") and frag not in anchors(dest)):
                print(f"{f}:{no}: broken link {target}", file=sys.stderr)
                broken += 1
print(f"links: {len(files)} Markdown files, {broken} broken")
sys.exit(1 if broken else 0)
