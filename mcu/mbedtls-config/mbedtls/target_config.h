/*
 * mbedTLS configuration of the Cortex-M4 build: a TLS 1.2 client only.
 *
 * mbedtls-sys-auto writes mbedTLS's config.h from its Cargo features, which
 * cannot remove the server side, DTLS, the legacy ciphers or the self tests.
 * Its config.h does, however, include "mbedtls/target_config.h" when
 * TARGET_LIKE_MBED is defined, just before check_config.h. mcu/CMakeLists.txt
 * defines TARGET_LIKE_MBED and puts this directory on the include path of
 * both the C compile (CFLAGS_thumbv7em_none_eabihf) and bindgen
 * (BINDGEN_EXTRA_CLANG_ARGS_thumbv7em_none_eabihf), so the Rust bindings see
 * exactly the structures the C code was built with.
 *
 * What stays: TLS 1.2 client, the suites of the library's compatibility
 * policy (ECDHE-ECDSA/ECDHE-RSA with AES-GCM, ChaCha20-Poly1305 and
 * AES-CBC-SHA256; static RSA with AES-GCM and AES-CBC), RSA (PKCS#1 v1.5) and
 * ECDSA signing and verification, P-256, P-384 and X25519, X.509
 * certificate and PEM/DER key parsing, Max Fragment Length, session tickets.
 */
#ifndef IOTKIT_MCU_MBEDTLS_TARGET_CONFIG_H
#define IOTKIT_MCU_MBEDTLS_TARGET_CONFIG_H

/* Memory through the firmware's HAL_Malloc/HAL_Free (mcu/port/hal_mem.c). */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_CALLOC_MACRO iotkit_port_calloc
#define MBEDTLS_PLATFORM_FREE_MACRO iotkit_port_free
#include <stddef.h>
void *iotkit_port_calloc(size_t count, size_t size);
void iotkit_port_free(void *ptr);

/* No server side, no DTLS. */
#undef MBEDTLS_SSL_SRV_C
#undef MBEDTLS_SSL_CACHE_C
#undef MBEDTLS_SSL_TICKET_C
#undef MBEDTLS_SSL_COOKIE_C
#undef MBEDTLS_SSL_PROTO_DTLS
#undef MBEDTLS_SSL_DTLS_ANTI_REPLAY
#undef MBEDTLS_SSL_DTLS_HELLO_VERIFY
#undef MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#undef MBEDTLS_SSL_DTLS_BADMAC_LIMIT

/* TLS features a device client does not use. */
#undef MBEDTLS_SSL_RENEGOTIATION
#undef MBEDTLS_SSL_ALPN
#undef MBEDTLS_SSL_CONTEXT_SERIALIZATION
#undef MBEDTLS_SSL_EXPORT_KEYS
#undef MBEDTLS_SSL_TRUNCATED_HMAC
#undef MBEDTLS_SSL_ALL_ALERT_MESSAGES
/* The peer's certificate is verified during the handshake and then freed. */
#undef MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
/* Not MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH: in 2.28 a client shrinks its
 * inbound buffer after the handshake to min(IN, OUT) content length when no
 * Max Fragment Length was agreed, here 4 KiB, and a server's 16 KiB record
 * would then break the connection. The inbound buffer is sized at build time
 * instead (IOTKIT_MCU_MAX_FRAGMENT in mcu/CMakeLists.txt). */
/* The inbound record buffer: 16 KiB, which any TLS server may fill, unless
 * the image is built for Max Fragment Length (IOTKIT_MCU_MAX_FRAGMENT = 512,
 * 1024, 2048 or 4096): then the library asks for it and refuses a server
 * that does not grant it. */
#if defined(IOTKIT_MCU_MAX_FRAGMENT)
#define MBEDTLS_SSL_IN_CONTENT_LEN IOTKIT_MCU_MAX_FRAGMENT
#endif
/* The device decides the size of its own records: 2 KiB (a 3 KiB MQTT
 * packet goes out as two records; any server accepts that). */
#define MBEDTLS_SSL_OUT_CONTENT_LEN 2048

/* Key exchanges outside the compatibility policy. */
#undef MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDH_RSA_ENABLED
#undef MBEDTLS_DHM_C
#undef MBEDTLS_ECJPAKE_C

/* Curves: P-256, P-384, X25519. */
#undef MBEDTLS_ECP_DP_SECP192R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP224R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP521R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP192K1_ENABLED
#undef MBEDTLS_ECP_DP_SECP224K1_ENABLED
#undef MBEDTLS_ECP_DP_SECP256K1_ENABLED
#undef MBEDTLS_ECP_DP_BP256R1_ENABLED
#undef MBEDTLS_ECP_DP_BP384R1_ENABLED
#undef MBEDTLS_ECP_DP_BP512R1_ENABLED
#undef MBEDTLS_ECP_DP_CURVE448_ENABLED
/* AES tables in flash, and only one of the four rotations (8 KiB less RAM). */
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
/* Smaller SHA-256/SHA-512 (unrolled loops folded). */
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_SHA512_SMALLER
/* RAM over speed: smaller precomputed tables. */
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
#define MBEDTLS_MPI_WINDOW_SIZE 2
#define MBEDTLS_MPI_MAX_SIZE 512

/* Ciphers, modes and hashes no policy suite uses. */
#undef MBEDTLS_ARC4_C
#undef MBEDTLS_BLOWFISH_C
#undef MBEDTLS_CAMELLIA_C
#undef MBEDTLS_ARIA_C
#undef MBEDTLS_DES_C
#undef MBEDTLS_XTEA_C
#undef MBEDTLS_CCM_C
#undef MBEDTLS_CMAC_C
#undef MBEDTLS_NIST_KW_C
#undef MBEDTLS_HKDF_C
#undef MBEDTLS_MD2_C
#undef MBEDTLS_MD4_C
#undef MBEDTLS_MD5_C
#undef MBEDTLS_RIPEMD160_C
#undef MBEDTLS_CIPHER_MODE_CFB
#undef MBEDTLS_CIPHER_MODE_CTR
#undef MBEDTLS_CIPHER_MODE_OFB
#undef MBEDTLS_CIPHER_MODE_XTS
#undef MBEDTLS_CIPHER_PADDING_ONE_AND_ZEROS
#undef MBEDTLS_CIPHER_PADDING_ZEROS_AND_LEN
#undef MBEDTLS_CIPHER_PADDING_ZEROS
/* Deterministic ECDSA would pull in HMAC_DRBG; signing uses CTR_DRBG. */
#undef MBEDTLS_HMAC_DRBG_C
#undef MBEDTLS_ECDSA_DETERMINISTIC

/* No key generation, no writing of keys, certificates or requests, no CRLs,
 * no encrypted (PKCS#5/#12) keys, no RSA_ALT. */
#undef MBEDTLS_GENPRIME
#undef MBEDTLS_PK_RSA_ALT_SUPPORT
#undef MBEDTLS_PK_WRITE_C
#undef MBEDTLS_PEM_WRITE_C
#undef MBEDTLS_PKCS5_C
#undef MBEDTLS_PKCS12_C
#undef MBEDTLS_X509_CRL_PARSE_C
#undef MBEDTLS_X509_CSR_PARSE_C
#undef MBEDTLS_X509_CREATE_C
#undef MBEDTLS_X509_CRT_WRITE_C
#undef MBEDTLS_X509_CSR_WRITE_C

/* RSASSA-PSS (certificates signed with it, TLS 1.2 never needs it), the
 * fallback SCSV (for clients that retry with a lower version; this one
 * speaks only TLS 1.2), record pre-checking (for DTLS), EC keys with
 * explicit domain parameters. */
#undef MBEDTLS_PKCS1_V21
#undef MBEDTLS_X509_RSASSA_PSS_SUPPORT
#undef MBEDTLS_SSL_FALLBACK_SCSV
#undef MBEDTLS_SSL_RECORD_CHECKING
#undef MBEDTLS_PK_PARSE_EC_EXTENDED

/* No strings, no self tests, no test certificates, no version queries. */
#undef MBEDTLS_VERSION_C
#undef MBEDTLS_ERROR_C
#undef MBEDTLS_VERSION_FEATURES
#undef MBEDTLS_SELF_TEST
#undef MBEDTLS_CERTS_C

#endif /* IOTKIT_MCU_MBEDTLS_TARGET_CONFIG_H */
