"""The machine's instruction set: the layout of an instruction row, the
opcodes and their sub-operations, and the flag bits (see ``machine.py``).

Plain Python numbers, shared by the encoder (which imports no Numba) and the
machine (which Numba compiles with these values as constants).
"""
import numpy as np

W = 10                                   # fields per instruction
OP, SUB, D, A, B, C, N, FLAGS, X, Y = range(W)

# ----------------------------------------------------------------------------- opcodes
UNARY_F, UNARY_I, BINARY_F, BINARY_I, COMPARE_F, COMPARE_I, SELECT_F, SELECT_I = range(1, 9)
CONVERT, FINITE, MOVE_F, MOVE_I, FILL_F, FILL_I, REDUCE_F, REDUCE_I = range(9, 17)
ARGRED_F, ARGRED_I, TAKE_F, TAKE_I, SCATTER_F, SCATTER_I, MATMUL_F, MATMUL_I = range(17, 25)
IOTA_F, IOTA_I, THREEFRY, ARGSORT_F, ARGSORT_I, IPOW_F, IPOW_I, COPY_F, COPY_I = range(25, 34)
JUMP, JUMP_IF_FALSE, JUMP_IF_GE, INC, CLAMP, SCAN_INDEX = range(40, 46)
LOAD_ROW_F, LOAD_ROW_I, STORE_ROW_F, STORE_ROW_I = range(46, 50)
LINALG = 50

# UNARY_F
(U_NEG, U_EXP, U_LOG, U_LOG1P, U_EXPM1, U_SQRT, U_SIN, U_COS, U_TAN, U_ASIN, U_ACOS, U_ATAN, U_SINH,
 U_COSH, U_TANH, U_LOGISTIC, U_ABS, U_SIGN, U_FLOOR, U_CEIL, U_ROUND) = range(21)
# UNARY_I (U_NEG, U_ABS, U_SIGN as above)
U_NOT_BOOL, U_NOT_INT = 30, 31
# BINARY_F / BINARY_I
(B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_ATAN2, B_REM, B_FLOORDIV, B_AND, B_OR, B_XOR,
 B_SHL, B_SHR) = range(15)
# COMPARE_*
C_LT, C_LE, C_GT, C_GE, C_EQ, C_NE = range(6)
# CONVERT
CV_FF, CV_FI, CV_IF, CV_II = range(4)
# REDUCE_*
R_SUM, R_PROD, R_MAX, R_MIN = range(4)
# ARGRED_*
AR_MAX, AR_MIN = range(2)
# MOVE_*
M_SET, M_ADD = range(2)
# LINALG (LAPACK, numba_backend.lapack)
L_CHOLESKY, L_TRSM, L_LU, L_EIGH, L_SVD, L_QR, L_TRMM = range(7)

S_A, S_B, S_C, ROUND32 = 1, 2, 4, 8
UNSIGNED64 = 256         # uint64 operands or result: int64 bits read as unsigned
SIGN_BIT = np.int64(-9223372036854775807 - 1)
WRAP_NONE, WRAP_BOOL, WRAP_I8, WRAP_U8, WRAP_I16, WRAP_U16, WRAP_I32, WRAP_U32 = range(8)
WRAP_SHIFT = 4
