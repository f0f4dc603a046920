/* makelib: a tiny C library built by a plain Makefile (build type "make"). */
#ifndef MAKELIB_H
#define MAKELIB_H

#ifdef __cplusplus
extern "C" {
#endif

/* x * x */
int makelib_square(int x);

#ifdef __cplusplus
}
#endif

#endif
