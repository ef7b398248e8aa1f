/* keylimits.c - the keys raterm and cmhost accept from outside; see
 * include/raterm/signer.h (rt_pk_check_limits). */
#include "raterm/signer.h"

#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/rsa.h>

rt_err *
rt_pk_check_limits(const mbedtls_pk_context *pk, const char *what)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	if (t == MBEDTLS_PK_RSA) {
		const mbedtls_rsa_context *rsa = mbedtls_pk_rsa(*pk);
		size_t bits = mbedtls_pk_get_bitlen(pk);
		mbedtls_mpi e;
		mbedtls_mpi_init(&e);
		int rc = mbedtls_rsa_export((mbedtls_rsa_context *)(uintptr_t)rsa,
		    NULL, NULL, NULL, NULL, &e);
		size_t ebits = rc == 0 ? mbedtls_mpi_bitlen(&e) : 0;
		int odd = rc == 0 ? mbedtls_mpi_get_bit(&e, 0) : 0;
		mbedtls_mpi_free(&e);
		if (bits < 2048 || bits > RT_RSA_MAX_BITS)
			return rt_err_new(RT_E_CERT, NULL, "%s: an RSA key of %zu "
			    "bits (2048 to %d accepted)", what, bits,
			    RT_RSA_MAX_BITS);
		if (rc != 0 || ebits < 2 || ebits > 32 || !odd)
			return rt_err_new(RT_E_CERT, NULL, "%s: an RSA public "
			    "exponent of %zu bits (an odd number of at most 32 bits "
			    "accepted, usually 65537)", what, ebits);
		return NULL;
	}
	if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECKEY_DH ||
	    t == MBEDTLS_PK_ECDSA) {
		mbedtls_ecp_group_id g = mbedtls_pk_ec(*pk)->grp.id;
		if (g == MBEDTLS_ECP_DP_SECP256R1 || g == MBEDTLS_ECP_DP_SECP384R1)
			return NULL;
		return rt_err_new(RT_E_CERT, NULL, "%s: an EC key on a curve other "
		    "than P-256 or P-384", what);
	}
	return rt_err_new(RT_E_CERT, NULL, "%s: a key of a type other than RSA "
	    "or EC", what);
}
