#ifndef QUICXDP_COPENSSL_H
#define QUICXDP_COPENSSL_H
// OpenSSL 3 libcrypto only: QUIC needs TLS handshake messages, not OpenSSL's record layer.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <openssl/ec.h>
#include <openssl/bio.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#endif
