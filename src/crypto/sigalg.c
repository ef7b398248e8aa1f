/* sigalg.c - the AlgorithmIdentifier of a signature (CSRs, CMP
 * protection and POPO); see der.h */
#include "der.h"

#include <mbedtls/oid.h>

rt_err *
rt_sig_alg_der(rt_der *d, rt_keytype kt, rt_hash h, rt_scheme sch)
{
	const char *oid;
	size_t olen;
	rt_der a;
	der_init(&a);
	if (sch == RT_SCHEME_DEFAULT)
		sch = kt == RT_KEY_RSA ? RT_SCHEME_PKCS1 : RT_SCHEME_ECDSA;
	if ((sch == RT_SCHEME_ECDSA) != (kt == RT_KEY_EC_P256 ||
	    kt == RT_KEY_EC_P384))
		return rt_err_new(RT_E_ARG, NULL, "scheme %s does not fit the key",
		    rt_scheme_name(sch));
	if (sch == RT_SCHEME_PSS) {
		rt_der params, hash_alg, mgf, mgf_seq, tmp;
		der_init(&params);
		der_init(&hash_alg);
		der_init(&mgf);
		der_init(&mgf_seq);
		der_init(&tmp);
		if (mbedtls_oid_get_oid_by_md(rt_hash_md(h), &oid, &olen) != 0)
			return rt_err_new(RT_E_ARG, NULL, "no OID for %s",
			    rt_hash_name(h));
		der_tlv(&hash_alg, 0x06, oid, olen);
		der_tlv(&hash_alg, 0x05, NULL, 0);
		der_wrap(&tmp, 0x30, &hash_alg);
		der_wrap(&params, 0xA0, &tmp);
		der_tlv(&mgf, 0x06, MBEDTLS_OID_MGF1, sizeof(MBEDTLS_OID_MGF1) - 1);
		der_wrap(&mgf, 0x30, &hash_alg);
		der_wrap(&mgf_seq, 0x30, &mgf);
		der_wrap(&params, 0xA1, &mgf_seq);
		der_free(&tmp);
		der_init(&tmp);
		der_int(&tmp, (long)rt_hash_len(h));
		der_wrap(&params, 0xA2, &tmp);
		der_tlv(&a, 0x06, MBEDTLS_OID_RSASSA_PSS,
		    sizeof(MBEDTLS_OID_RSASSA_PSS) - 1);
		der_wrap(&a, 0x30, &params);
		der_free(&params);
		der_free(&hash_alg);
		der_free(&mgf);
		der_free(&mgf_seq);
		der_free(&tmp);
	} else {
		mbedtls_pk_type_t pt = kt == RT_KEY_RSA ? MBEDTLS_PK_RSA :
		    MBEDTLS_PK_ECDSA;
		if (mbedtls_oid_get_oid_by_sig_alg(pt, rt_hash_md(h), &oid,
		    &olen) != 0)
			return rt_err_new(RT_E_ARG, NULL, "no signature OID for %s "
			    "with %s", rt_scheme_name(sch), rt_hash_name(h));
		der_tlv(&a, 0x06, oid, olen);
		if (kt == RT_KEY_RSA)
			der_tlv(&a, 0x05, NULL, 0);
	}
	der_wrap(d, 0x30, &a);
	der_free(&a);
	return NULL;
}
