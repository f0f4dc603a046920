/* autoconflib: built with autoconf/automake/libtool (build type "autoconf");
 * uses makelib. */
#ifndef AUTOCONFLIB_H
#define AUTOCONFLIB_H

#ifdef __cplusplus
extern "C" {
#endif

/* a*a + b*b, squares computed by makelib */
int autoconflib_sum_squares(int a, int b);

#ifdef __cplusplus
}
#endif

#endif
