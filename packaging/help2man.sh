#!/bin/sh
# help2man.sh TOOL NAME SUMMARY > NAME.1 - a man page whose body is the
# tool's own --help text (so page and tool cannot disagree).
set -eu
tool=$1 name=$2 summary=$3
printf '.TH %s 1 "" "tern" "User Commands"\n' "$(echo "$name" | tr a-z A-Z)"
printf '.SH NAME\n%s \\- %s\n.SH DESCRIPTION\n.nf\n' "$name" "$summary"
"$tool" --help | sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"
printf '.fi\n.SH SEE ALSO\n.BR tern (8)\n'
