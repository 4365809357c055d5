#!/bin/bash
# tests/integration/test_starttls.sh — TLS for protocols that negotiate it inside a plaintext
# session, against real servers and clients from Debian, one PASS/FAIL line per check.
#
# In srv (10.77.0.1), none of them with TLS of its own unless said so:
#   PostgreSQL 15 :5432 (no TLS), :5433 (its own TLS, its own certificate "pg-own.jfe.test")
#   Postfix :25 (no TLS), :2525 (its own STARTTLS, its own certificate "mx-own.jfe.test")
#   Dovecot IMAP :143, POP3 :110 (no TLS)
#   MariaDB :3306 (no TLS)
#   Redis :6379 (no TLS; its clients speak TLS from the first byte: the generic path)
# jfe intercepts with certificates from Pebble (HTTP-01, answered by jfe), --hostname
# mail.jfe.test for clients that send no SNI. Clients run in cli (10.77.0.2) and verify the
# certificate against Pebble's root with the host name checked; names resolve through an
# /etc/hosts seen by the cli namespace only (bed_hosts).
# Environment: JFE_BIN, BED_KEEP=1.
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=starttls
bed_require_root

T0=$(now)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
ISSUE_TIMEOUT=30
FIRST_MAX=40            # a first handshake may wait for issuance

ALL_TESTS=(pg_verify_full pg_real_client pg_server_tls_untouched pg_direct_tls_alpn
	smtp_swaks_tls smtp_delivered smtp_plain_client smtp_injection_discarded
	smtp_server_starttls_untouched imap_login_list pop3_login_list imap_real_client
	mariadb_tls_query mariadb_server_tls_untouched hostile_long_line redis_tls status_starttls
	sanitizers_clean)
if ! bed_up; then
	echo "FAIL: starttls.bed_up"
	exit 1
fi

NAMES=(pg.jfe.test mail.jfe.test imap.jfe.test redis.jfe.test)
bed_hosts "$NS_CLI" "$SRV4 ${NAMES[*]} maria-own.jfe.test" || { echo "FAIL: starttls.bed_hosts"; exit 1; }

# ------------------------------------------------------------------ servers in srv
SRVDIR=$BED_DIR/servers
mkdir -p "$SRVDIR"
chmod 755 "$BED_DIR" "$SRVDIR"

# own_cert NAME DIR: a self-signed certificate a service uses for its own TLS
own_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$2/own.key" -out "$2/own.pem" -subj "/CN=$1" -addext "subjectAltName=DNS:$1" \
		>/dev/null 2>&1
}

postgres_up() {
	local d=$SRVDIR/pg
	mkdir -p "$d" && chown postgres "$d" || return 1
	runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 \
		--locale=C.UTF-8 >"$d/initdb.log" 2>&1 || return 1
	printf 'host all all 10.77.0.0/24 trust\nhost all all fd77::/64 trust\n' >>"$d/data/pg_hba.conf"
	own_cert pg-own.jfe.test "$d" && chown postgres "$d/own.key" "$d/own.pem" || return 1
	# a second cluster with its own TLS, for "a service that does TLS itself is left alone"
	runuser -u postgres -- "$PGBIN/initdb" -D "$d/data-tls" -U postgres --auth=trust -E UTF8 \
		--locale=C.UTF-8 >>"$d/initdb.log" 2>&1 || return 1
	cp "$d/data/pg_hba.conf" "$d/data-tls/pg_hba.conf"
	spawn "$NS_SRV" "$d/pg.log" runuser -u postgres -- "$PGBIN/postgres" -D "$d/data" \
		-c "listen_addresses=$SRV4" -c port=5432 -c "unix_socket_directories=$d" -c ssl=off
	spawn "$NS_SRV" "$d/pg-tls.log" runuser -u postgres -- "$PGBIN/postgres" -D "$d/data-tls" \
		-c "listen_addresses=$SRV4" -c port=5433 -c "unix_socket_directories=$d" -c ssl=on \
		-c "ssl_cert_file=$d/own.pem" -c "ssl_key_file=$d/own.key"
	wait_port "$NS_SRV" "$SRV4" 5432 20 && wait_port "$NS_SRV" "$SRV4" 5433 20
}

postfix_up() {
	local d=$SRVDIR/postfix uid gid
	uid=$(id -u postfix) gid=$(id -g postfix)
	mkdir -p "$d/conf" "$d/queue" "$d/data" "$d/mail" || return 1
	chown postfix "$d/data" "$d/mail"
	own_cert mx-own.jfe.test "$d" || return 1
	cp /etc/postfix/master.cf "$d/conf/master.cf"
	cat >"$d/conf/main.cf" <<-EOF
	compatibility_level = 3.6
	queue_directory = $d/queue
	data_directory = $d/data
	maillog_file = $d/maillog
	maillog_file_prefixes = $d
	myhostname = mx.jfe.test
	mydomain = jfe.test
	myorigin = jfe.test
	inet_interfaces = $SRV4
	inet_protocols = ipv4
	mydestination =
	mynetworks = 127.0.0.0/8 10.77.0.0/24
	smtpd_tls_security_level = none
	smtp_tls_security_level = none
	virtual_mailbox_domains = jfe.test
	virtual_mailbox_base = $d/mail
	virtual_mailbox_maps = inline:{ {user@jfe.test=user/} }
	virtual_uid_maps = static:$uid
	virtual_gid_maps = static:$gid
	alias_maps =
	alias_database =
	biff = no
	smtpd_banner = \$myhostname ESMTP
	EOF
	# no chroot (nothing is copied into the queue directory); a second smtpd with its own TLS
	postconf -c "$d/conf" -F '*/*/chroot = n' || return 1
	postconf -c "$d/conf" -M "2525/inet=2525 inet n - n - - smtpd -o smtpd_tls_security_level=may -o smtpd_tls_cert_file=$d/own.pem -o smtpd_tls_key_file=$d/own.key" || return 1
	in_srv postfix -c "$d/conf" check >"$d/check.log" 2>&1 || return 1
	spawn "$NS_SRV" "$d/master.log" postfix -c "$d/conf" start-fg
	wait_port "$NS_SRV" "$SRV4" 25 20 && wait_port "$NS_SRV" "$SRV4" 2525 20
}

dovecot_up() {
	local d=$SRVDIR/dovecot
	mkdir -p "$d/run" "$d/state" "$d/mail" || return 1
	chown dovecot "$d/mail"
	echo 'alice:{PLAIN}wonderland' >"$d/users"
	cat >"$d/dovecot.conf" <<-EOF
	protocols = imap pop3
	listen = $SRV4
	base_dir = $d/run
	state_dir = $d/state
	log_path = $d/dovecot.log
	ssl = no
	disable_plaintext_auth = no
	auth_mechanisms = plain login
	first_valid_uid = 1
	first_valid_gid = 1
	mail_location = maildir:$d/mail/%u
	default_internal_user = dovecot
	default_login_user = dovenull
	passdb {
	  driver = passwd-file
	  args = scheme=PLAIN username_format=%u $d/users
	}
	userdb {
	  driver = static
	  args = uid=dovecot gid=dovecot home=$d/mail/%u
	}
	service imap-login {
	  inet_listener imaps {
	    port = 0
	  }
	}
	service pop3-login {
	  inet_listener pop3s {
	    port = 0
	  }
	}
	EOF
	spawn "$NS_SRV" "$d/master.log" dovecot -F -c "$d/dovecot.conf"
	wait_port "$NS_SRV" "$SRV4" 143 20 && wait_port "$NS_SRV" "$SRV4" 110 20
}

mariadb_up() {
	local d=$SRVDIR/mariadb i sock
	mkdir -p "$d" && chown mysql "$d" || return 1
	own_cert maria-own.jfe.test "$d" && chown mysql "$d/own.key" || return 1
	mariadb-install-db --no-defaults --datadir="$d/data" --user=mysql \
		--auth-root-authentication-method=normal --skip-test-db >"$d/install.log" 2>&1 || return 1
	cp -a "$d/data" "$d/data-tls"
	spawn "$NS_SRV" "$d/mariadbd.log" mariadbd --no-defaults --datadir="$d/data" --user=mysql \
		--socket="$d/sock" --port=3306 --bind-address="$SRV4" --skip-ssl --pid-file="$d/pid" \
		--skip-name-resolve
	# a second server with TLS of its own
	spawn "$NS_SRV" "$d/mariadbd-tls.log" mariadbd --no-defaults --datadir="$d/data-tls" \
		--user=mysql --socket="$d/sock-tls" --port=3307 --bind-address="$SRV4" \
		--ssl-cert="$d/own.pem" --ssl-key="$d/own.key" --pid-file="$d/pid-tls" \
		--skip-name-resolve
	wait_port "$NS_SRV" "$SRV4" 3306 30 && wait_port "$NS_SRV" "$SRV4" 3307 30 || return 1
	for ((i = 0; i < 50; i++)); do [[ -S $d/sock && -S $d/sock-tls ]] && break; sleep 0.1; done
	for sock in "$d/sock" "$d/sock-tls"; do
		in_srv mariadb --no-defaults -S "$sock" -u root -e \
			"CREATE USER 'app'@'%' IDENTIFIED BY 'secret'; GRANT ALL ON *.* TO 'app'@'%';" \
			>>"$d/grant.log" 2>&1 || return 1
	done
}

redis_up() {
	local d=$SRVDIR/redis
	mkdir -p "$d" && chown redis "$d" || return 1
	spawn "$NS_SRV" "$d/redis.log" runuser -u redis -- redis-server --bind "$SRV4" --port 6379 \
		--dir "$d" --save '' --appendonly no --protected-mode no
	wait_port "$NS_SRV" "$SRV4" 6379 20
}

setup_ok=1
failed_parts=()
for part in postgres postfix dovecot mariadb redis; do
	"${part}_up" || { setup_ok=0; failed_parts+=("$part"); }
done
pebble_certs "$BED_DIR/pebble" || setup_ok=0
[[ $setup_ok == 1 ]] && { chall_start || setup_ok=0; }
if [[ $setup_ok == 1 ]]; then
	pebble_start main 14000 15000 PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 || setup_ok=0
	ROOT=$(pebble_root 15000) || setup_ok=0
fi
if [[ $setup_ok == 0 ]]; then
	fail starttls.setup "set-up failed: ${failed_parts[*]:-pebble}" challtestsrv.log pebble-main.log \
		servers/pg/initdb.log servers/pg/pg.log servers/postfix/check.log servers/postfix/master.log \
		servers/dovecot/master.log servers/mariadb/install.log servers/mariadb/mariadbd.log \
		servers/redis/redis.log
	not_run . "set-up failed"
	bed_finish
fi
bed_log "servers and Pebble up after $(elapsed "$T0")s"

if ! jfe_start --acme-directory "${PEBBLE_URL[main]}" --acme-ca-bundle "$PEBBLE_DIR/ca.pem" \
	--public-ip "$SRV4" --public-ip "$SRV6" --dns-server "$CHALL_DNS" \
	--issue-timeout "$ISSUE_TIMEOUT" --hostname mail.jfe.test -v; then
	fail starttls.jfe_start "jfe did not start"
	not_run . "jfe did not start"
	bed_finish
fi

# client CMD…: in cli, bounded for a first handshake that may wait for issuance
client() { BED_TIMEOUT=$((FIRST_MAX + 5)) in_cli "$@"; }
PGCONN="port=5432 user=postgres dbname=postgres connect_timeout=$FIRST_MAX"

# ------------------------------------------------------------------ PostgreSQL
out=$(client psql "host=pg.jfe.test $PGCONN sslmode=verify-full sslrootcert=$ROOT" -Atc \
	"select 'answer=' || 6 * 7, 'client=' || host(inet_client_addr())" 2>&1)
if grep -q 'answer=42' <<<"$out"; then
	report pass pg_verify_full "psql sslmode=verify-full with Pebble's root ran a query"
else
	report fail pg_verify_full "psql: $out" servers/pg/pg.log
fi
if grep -q "client=$CLI4" <<<"$out"; then
	report pass pg_real_client "the server saw $CLI4"
else
	report fail pg_real_client "psql: $out"
fi
# The server with TLS of its own: the client sees that server's certificate, not jfe's.
subj=$(in_cli openssl s_client -starttls postgres -connect "$SRV4:5433" -servername pg.jfe.test \
	</dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null)
q=$(client psql "host=pg.jfe.test port=5433 user=postgres dbname=postgres sslmode=require connect_timeout=10" \
	-Atc "select ssl from pg_stat_ssl where pid = pg_backend_pid()" 2>&1)
if [[ $subj == *pg-own.jfe.test* && $q == t ]]; then
	report pass pg_server_tls_untouched "$subj; the server itself reports ssl=$q"
else
	report fail pg_server_tls_untouched "subject: ${subj:-none}; pg_stat_ssl: $q"
fi
# Direct TLS (PostgreSQL 17's sslnegotiation=direct) offers ALPN "postgresql" and needs it back.
out=$(in_cli openssl s_client -connect "$SRV4:5432" -servername pg.jfe.test -alpn postgresql \
	-CAfile "$ROOT" -verify_hostname pg.jfe.test </dev/null 2>&1)
if grep -q '^ALPN protocol: postgresql' <<<"$out" && grep -q 'Verify return code: 0' <<<"$out"; then
	report pass pg_direct_tls_alpn "ALPN postgresql selected, certificate verified"
else
	report fail pg_direct_tls_alpn "$(grep -E 'ALPN|Verify return' <<<"$out")"
fi

# ------------------------------------------------------------------ SMTP (Postfix)
MAILDIR=$SRVDIR/postfix/mail/user/new
out=$(client swaks --server mail.jfe.test --port 25 --tls --tls-verify --tls-ca-path "$ROOT" \
	--to user@jfe.test --from sender@jfe.test --header "Subject: jfe-starttls-$BED_ID" \
	--timeout "$FIRST_MAX" 2>&1)
if grep -q '^<~  250 .*queued as' <<<"$out"; then
	report pass smtp_swaks_tls "swaks --tls --tls-verify: $(grep -m1 'queued as' <<<"$out" | sed 's/^ *//')"
else
	report fail smtp_swaks_tls "$(tail -n 12 <<<"$out")" servers/postfix/maillog
fi
delivered=0
for ((i = 0; i < 50; i++)); do
	if grep -rqs "Subject: jfe-starttls-$BED_ID" "$MAILDIR"; then delivered=1; break; fi
	sleep 0.1
done
if [[ $delivered == 1 ]] && grep -q "connect from unknown\[$CLI4\]" "$SRVDIR/postfix/maillog"; then
	report pass smtp_delivered "in the mailbox; Postfix saw the client $CLI4"
else
	report fail smtp_delivered "delivered=$delivered" servers/postfix/maillog
fi
# A client that never asks for TLS still works, and is offered STARTTLS.
out=$(client swaks --server mail.jfe.test --port 25 --to user@jfe.test --from plain@jfe.test \
	--header "Subject: jfe-plain-$BED_ID" --timeout 10 2>&1)
if grep -q '^<-  250 .*queued as' <<<"$out" && grep -q '^<-  250.STARTTLS' <<<"$out"; then
	report pass smtp_plain_client "plaintext delivery works; EHLO answer offers STARTTLS"
else
	report fail smtp_plain_client "$(tail -n 12 <<<"$out")"
fi
out=$(py "$NS_CLI" smtp_inject.py "$SRV4" 25 "$ROOT" mail.jfe.test "inject-$BED_ID@evil.test" 2>&1)
if grep -qx SAFE <<<"$out" && ! grep -q "inject-$BED_ID" "$SRVDIR/postfix/maillog"; then
	report pass smtp_injection_discarded "STARTTLS + MAIL FROM in one segment: the second never reached Postfix"
else
	report fail smtp_injection_discarded "$out" servers/postfix/maillog
fi
# A service offering STARTTLS itself: jfe steps aside, the client gets Postfix's certificate.
subj=$(in_cli openssl s_client -starttls smtp -connect "$SRV4:2525" -servername mail.jfe.test \
	</dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null)
if [[ $subj == *mx-own.jfe.test* ]]; then
	report pass smtp_server_starttls_untouched "$subj"
else
	report fail smtp_server_starttls_untouched "subject: ${subj:-none}"
fi

# ------------------------------------------------------------------ IMAP / POP3 (Dovecot)
out=$(client curl -q -sS -m "$FIRST_MAX" --ssl-reqd --cacert "$ROOT" -u alice:wonderland \
	imap://imap.jfe.test/ 2>&1)
if grep -q 'LIST .*INBOX' <<<"$out"; then
	report pass imap_login_list "curl --ssl-reqd imap://: $(tr -d '\r' <<<"$out" | head -n1)"
else
	report fail imap_login_list "$out" servers/dovecot/dovecot.log
fi
out=$(client curl -q -sS -m "$FIRST_MAX" --ssl-reqd --cacert "$ROOT" -u alice:wonderland \
	pop3://imap.jfe.test/ 2>&1)
rc=$?
if [[ $rc == 0 ]] && grep -q "pop3(alice).*Logged out" "$SRVDIR/dovecot/dovecot.log"; then
	report pass pop3_login_list "curl --ssl-reqd pop3:// logged in and listed"
else
	report fail pop3_login_list "curl rc=$rc: $out" servers/dovecot/dovecot.log
fi
if grep -q "imap-login: Info: Login: user=<alice>.*rip=$CLI4" "$SRVDIR/dovecot/dovecot.log"; then
	report pass imap_real_client "Dovecot saw rip=$CLI4"
else
	report fail imap_real_client "no login from $CLI4" servers/dovecot/dovecot.log
fi

# ------------------------------------------------------------------ MariaDB
# Its client sends no SNI: it gets the certificate of the host's name (--hostname), the name it
# connects to here.
out=$(client mariadb --no-defaults -h mail.jfe.test -u app -psecret --ssl --ssl-verify-server-cert \
	--ssl-ca="$ROOT" --connect-timeout="$FIRST_MAX" -e 'SELECT 6 * 7 AS answer, USER() AS who; \s' 2>&1)
if grep -q "^42[[:space:]]app@$CLI4\$" <<<"$out" && grep -q 'SSL:.*Cipher in use' <<<"$out"; then
	report pass mariadb_tls_query "$(grep 'SSL:' <<<"$out" | sed 's/^ *//'); the server saw app@$CLI4"
else
	report fail mariadb_tls_query "$out" servers/mariadb/mariadbd.log
fi
# The server with TLS of its own: only its own certificate verifies.
out=$(client mariadb --no-defaults -h maria-own.jfe.test -P 3307 -u app -psecret --ssl \
	--ssl-verify-server-cert --ssl-ca="$SRVDIR/mariadb/own.pem" --connect-timeout=10 \
	-e "SHOW STATUS LIKE 'Ssl_version'" 2>&1)
if grep -q '^Ssl_version[[:space:]]TLSv1' <<<"$out"; then
	report pass mariadb_server_tls_untouched "the server's own certificate verified; the server reports $(grep Ssl_version <<<"$out" | tr '\t' ' ')"
else
	report fail mariadb_server_tls_untouched "$out" servers/mariadb/mariadbd-tls.log
fi

# ------------------------------------------------------------------ hostile clients
# An SMTP command line far over any bound, after jfe has rewritten the session: a clean close,
# not a crash or a hang, and the next client is served.
HOSTILE_PY='
import socket, sys
s = socket.create_connection((sys.argv[1], 25), timeout=10)
f = s.makefile("rb")
f.readline()
s.sendall(b"EHLO hostile.jfe.test\r\n")
while True:
    line = f.readline()
    if not line or line[3:4] != b"-":
        break
try:
    s.sendall(b"MAIL FROM:<" + b"x" * 100000)
    print("CLOSED" if s.recv(4096) == b"" else "ANSWERED")
except ConnectionResetError:
    print("CLOSED")
'
out=$(in_cli "$PY" -c "$HOSTILE_PY" "$SRV4" 2>&1)
again=$(client swaks --server mail.jfe.test --port 25 --to user@jfe.test --from again@jfe.test \
	--timeout 10 2>&1 | grep -c 'queued as')
if [[ $out == CLOSED && $again == 1 ]] && _alive "$JFE_PID"; then
	report pass hostile_long_line "a 100 kB command line: connection closed; the next client is served"
else
	report fail hostile_long_line "probe: $out; next delivery: $again"
fi

# ------------------------------------------------------------------ Redis (TLS from the first byte)
out=$(client redis-cli -h redis.jfe.test -p 6379 --tls --sni redis.jfe.test --cacert "$ROOT" \
	PING 2>&1)
if [[ $out == PONG ]]; then
	report pass redis_tls "redis-cli --tls PING: PONG"
else
	report fail redis_tls "$out" servers/redis/redis.log
fi

# ------------------------------------------------------------------ status and sanitizers
n=$(jfe_status --json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["traffic"]["total"]["starttls"])' 2>/dev/null)
if [[ ${n:-0} -ge 6 ]]; then
	report pass status_starttls "jfe status counts $n STARTTLS connections"
else
	report fail status_starttls "traffic.total.starttls=${n:-missing}"
fi
jfe_stop TERM 15
if reps=$(jfe_sanitizer_reports); then
	report fail sanitizers_clean "$reps"
else
	report pass sanitizers_clean "no ASan/UBSan report in jfe's log"
fi
bed_log "done after $(elapsed "$T0")s"
not_run . "not reached"
bed_finish
