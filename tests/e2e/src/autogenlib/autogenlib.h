/* autogenlib: built with ./autogen.sh (build type "autogen"); uses
 * autoconflib, and through it makelib. */
#ifndef AUTOGENLIB_H
#define AUTOGENLIB_H

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when a*a + b*b == c*c */
int autogenlib_is_pythagorean(int a, int b, int c);

#ifdef __cplusplus
}
#endif

#endif
