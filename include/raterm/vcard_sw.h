/*
 * vcard_sw.h - the status words the virtual cards (vpiv, vp15) answer.
 * For the card cores only: the host side has its own names (apdu.h's
 * SW_OK), and the two do not go into one file.
 */
#ifndef RATERM_VCARD_SW_H
#define RATERM_VCARD_SW_H

enum {
	SW_OK              = 0x9000,
	SW_MEMORY_FAILURE  = 0x6581,
	SW_WRONG_LENGTH    = 0x6700,
	SW_LAST_CMD_EXPECTED = 0x6883,
	SW_SECURITY        = 0x6982,
	SW_BLOCKED         = 0x6983,
	SW_CONDITIONS      = 0x6985,
	SW_NO_EF           = 0x6986,
	SW_WRONG_DATA      = 0x6A80,
	SW_FUNC_NOT_SUPP   = 0x6A81,
	SW_NOT_FOUND       = 0x6A82,
	SW_NO_SPACE        = 0x6A84,
	SW_WRONG_P1P2      = 0x6A86,
	SW_REF_NOT_FOUND   = 0x6A88,
	SW_EXISTS          = 0x6A89,
	SW_OFFSET          = 0x6B00,
	SW_INS_NOT_SUPP    = 0x6D00,
	SW_CLA_NOT_SUPP    = 0x6E00,
	SW_UNKNOWN         = 0x6F00,
};

#endif
