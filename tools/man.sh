#!/bin/sh
# man.sh VMASKC OUT.1 — writes the man page vmaskc(1) from the tool's own help: `vmaskc --help` for
# the synopsis and overview, then `vmaskc CMD --help` for every command that overview lists, so the
# page and --help never disagree. Run by the build (CMakeLists.txt); the page is installed to
# share/man/man1. Written to a temporary file and renamed, so a failure leaves no half page.
set -eu
if [ $# -ne 2 ]; then
    echo "usage: tools/man.sh VMASKC OUT.1" >&2
    exit 2
fi
vmaskc=$1
out=$2
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT INT TERM

# troff-safe preformatted text: backslashes escaped, a leading . or ' neutralised
esc() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }

main_help=$("$vmaskc" --help)
version=$("$vmaskc" --version | sed 's/^vmaskc //; s/ (commit .*//')
# the command names: the indented first words of the "commands:" block
cmds=$(printf '%s\n' "$main_help" | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p')
[ -n "$cmds" ] || { echo "man.sh: no commands found in '$vmaskc --help'" >&2; exit 1; }
summary=$(printf '%s\n' "$main_help" | sed -n '1s/^vmaskc [^ ]* — //p')

{
    printf '.TH VMASKC 1 "" "vmaskc %s" "User Commands"\n' "$version"
    printf '.SH NAME\nvmaskc \\- %s\n' "$summary"
    printf '.SH SYNOPSIS\n.nf\n'
    printf '%s\n' "$main_help" | sed -n '/^usage:/,/^$/p' | sed -e '/^$/d' -e 's/^usage: //' -e 's/^       //' | esc
    printf '.fi\n.SH DESCRIPTION\n.nf\n'
    printf '%s\n' "$main_help" | sed -n '/^commands:/,$p' | esc
    printf '.fi\n.SH COMMANDS\n'
    for c in $cmds; do
        printf '.SS "vmaskc %s"\n.nf\n' "$c"
        "$vmaskc" "$c" --help | esc
        printf '.fi\n'
    done
    printf '.SH LIBRARY\nThe same functions are available to C programs as libvmaskc: see the header\n'
    printf '.I vmaskc.h\nand\n.B pkg-config --cflags --libs vmaskc\n.\n'
    printf '.SH SEE ALSO\nREADME.md of the vmaskc sources; Chen & Ji, "Learning Variational Word Masks to Improve the\nInterpretability of Neural Text Classifiers", EMNLP 2020.\n'
} >"$tmp"
mv "$tmp" "$out"
trap - EXIT INT TERM
