#!/usr/bin/env bash
# The baseline of one file (rows upload-big, upload-small-xargs, upload-small-loop): md5sum,
# POST /v1/assets with curl, then PUT the body with curl -T and the signed upload_headers,
# the flow chief-upload does for one file. Needs CHIEF_API_URL, CHIEF_API_KEY and
# CHIEF_PROJECT_ID (the fake server prints them).
set -euo pipefail
f=$1
sum=$(md5sum < "$f"); sum=${sum%% *}
name=${f##*/}
resp=$(curl -sS --fail-with-body -X POST "$CHIEF_API_URL/v1/assets" \
    -H "X-API-Key: $CHIEF_API_KEY" -H "X-Project-Id: $CHIEF_PROJECT_ID" \
    -H 'Content-Type: application/json' \
    --data "{\"filename\":\"$name\",\"mime_type\":\"application/octet-stream\",\"md5\":\"$sum\"}")
[[ $resp =~ \"already_exists\":true ]] && exit 0
[[ $resp =~ \"upload_url\":\"([^\"]*)\" ]] || { echo "no upload_url: $resp" >&2; exit 1; }
url=${BASH_REMATCH[1]}
[[ $resp =~ \"upload_headers\":\{([^\}]*)\} ]] || { echo "no upload_headers: $resp" >&2; exit 1; }
hdrs=()
rest=${BASH_REMATCH[1]}
while [[ $rest =~ ^,?\"([^\"]*)\":\"([^\"]*)\"(.*)$ ]]; do
    hdrs+=(-H "${BASH_REMATCH[1]}: ${BASH_REMATCH[2]}")
    rest=${BASH_REMATCH[3]}
done
curl -sS --fail-with-body -o /dev/null -H 'Expect:' "${hdrs[@]}" -T "$f" "$url"
