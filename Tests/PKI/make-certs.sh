#!/bin/sh
# Regenerates the test PKI (used by QuicCryptoTests, QuicTLSTests and TLSBench) in this directory with the openssl CLI (OpenSSL 3.0.x).
# The committed files were made by running: sh make-certs.sh   (on 2026-11-26, OpenSSL 3.0.22)
# Validity starts at generation time; tests pin the verification clock (TestPKI.swift) to a date
# inside it, so the files do not expire under the tests. expired.pem is valid for one day only.
set -eu
cd "$(dirname "$0")"
rm -f ./*.pem ./*.key ./*.csr ./*.ext
days=36500

key() { # key FILE ALGORITHM
    case "$2" in
        p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ;;
        p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$1" ;;
        rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" ;;
        ed25519) openssl genpkey -algorithm ed25519 -out "$1" ;;
    esac
}

leaf() { # leaf NAME ALGORITHM ISSUER DAYS EXTENSIONS
    key "$1.key" "$2"
    openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
    printf '%s\n' "$5" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 8)" \
        -days "$4" -extfile "$1.ext" -out "$1.pem"
    rm -f "$1.csr" "$1.ext"
}

server_ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:server.test,IP:127.0.0.1'
client_ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'
ca_ext='basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign'

# Root CA (ECDSA P-256), self-signed.
key ca.key p256
openssl req -x509 -new -key ca.key -subj "/CN=QuicXDP Test Root CA" -days "$days" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem

# An intermediate CA under the root; the P-256 server certificate chains through it.
leaf intermediate p256 ca "$days" "$ca_ext"

# Server certificates for server.test / 127.0.0.1, one per signature algorithm.
leaf server-p256 p256 intermediate "$days" "$server_ext"
cat server-p256.pem intermediate.pem > server-p256-chain.pem
leaf server-p384 p384 ca "$days" "$server_ext"
leaf server-rsa rsa ca "$days" "$server_ext"
leaf server-ed25519 ed25519 ca "$days" "$server_ext"

# Failure cases: a certificate valid for one day, and a self-signed one no CA vouches for.
leaf expired p256 ca 1 "$server_ext"
key self-signed.key p256
openssl req -x509 -new -key self-signed.key -subj "/CN=server.test" -days "$days" \
    -addext "subjectAltName=DNS:server.test" -addext "extendedKeyUsage=serverAuth" -out self-signed.pem

# A client certificate for mutual TLS.
leaf client p256 ca "$days" "$client_ext"
