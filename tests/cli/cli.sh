#!/usr/bin/env bash
# CLI behaviour: muster-ca init/issue/revoke and muster keygen/pubkey/inspect,
# including the refusals a user meets (bad role, wrong passphrase, no
# overwrite of a CA key, unreadable input).
set -euo pipefail
bin=${MU_BIN:?}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cd "$t"
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "correct horse" > ca.pass
ca_key=$("$bin/muster-ca" init --dir ca --passphrase-file ca.pass 2>/dev/null)
[[ $ca_key =~ ^[0-9a-f]{64}$ ]] || fail "init printed '$ca_key'"
[ "$(stat -c %a ca/ca.key)" = 600 ] || fail "ca.key mode $(stat -c %a ca/ca.key)"
"$bin/muster-ca" init --dir ca --passphrase-file ca.pass 2>err && fail "init overwrote a CA"
grep -q "exists" err || fail "no clear error for existing CA: $(cat err)"

k=$("$bin/muster" keygen --out sam.key --keyfile sam.kf 2>/dev/null)
[ "$("$bin/muster" pubkey sam.key)" = "$k" ] || fail "pubkey differs from keygen"
[ "$(stat -c %a sam.kf)" = 600 ] || fail "key file mode"

"$bin/muster-ca" issue --dir ca --passphrase-file ca.pass --pub sam.key.pub --subject NWAS-1 \
	--name 'Sam "Sol" Okafor' --role paramedic --org NWAS --reg "HCPC PA1" --days 30 --out sam.cred 2>/dev/null
out=$("$bin/muster" inspect --json sam.cred)
for want in '"type":"credential"' '"role":"paramedic"' '"name":"Sam \"Sol\" Okafor"' \
	'"registration":"HCPC PA1"' "\"sign_pk\":\"$k\"" "\"issuer\":\"$ca_key\""; do
	grep -qF "$want" <<<"$out" || fail "inspect --json lacks $want: $out"
done
"$bin/muster" inspect sam.cred | grep -q "registration HCPC PA1" || fail "text inspect"

echo wrong > bad.pass
"$bin/muster-ca" issue --dir ca --passphrase-file bad.pass --pub sam.key.pub --subject X --name X \
	--role paramedic --org X --out x.cred 2>err && fail "wrong passphrase accepted"
grep -q "wrong passphrase" err || fail "wrong passphrase message: $(cat err)"
"$bin/muster-ca" issue --dir ca --passphrase-file ca.pass --pub sam.key.pub --subject X --name X \
	--role surgeon --org X --out x.cred 2>err && fail "unknown role accepted"
grep -q "unknown role" err || fail "unknown role message"
[ ! -e x.cred ] || fail "a refused issue wrote a file"

"$bin/muster-ca" revoke --dir ca --passphrase-file ca.pass --key "$k" --reason lost --out r.bundle 2>/dev/null
out=$("$bin/muster" inspect --json r.bundle)
grep -qF '"kind":"revocation"' <<<"$out" || fail "revocation kind: $out"
grep -qF "\"revokes\":\"$k\"" <<<"$out" || fail "revoked key: $out"
grep -qF "\"sender\":\"$ca_key\"" <<<"$out" || fail "revocation not signed by CA: $out"

head -c 100 /dev/urandom > junk
"$bin/muster" inspect junk 2>err && fail "junk decoded"
grep -q "malformed" err || fail "junk message: $(cat err)"
"$bin/muster" nosuch 2>/dev/null && fail "unknown command accepted"
echo "cli: all checks passed"
