/*
 * The C variadic functions of the vendor API. Stable Rust cannot define a
 * function taking `...`, so these few live here and hand plain values to Rust.
 * Deliberately includes no iotkit header: wrappers_os.h defines HAL_Printf as
 * a macro, and this file must define the real function of that name.
 */
#include <stdarg.h>
#include <stdio.h>

int HAL_Vsnprintf(char *str, const int len, const char *fmt, va_list ap);
int HAL_Snprintf(char *str, const int len, const char *fmt, ...);
void HAL_Printf(const char *fmt, ...);

int HAL_Vsnprintf(char *str, const int len, const char *fmt, va_list ap)
{
    /* A negative length would turn into a huge size_t; NULL with room to
     * write into is a caller bug. Both fail without touching memory. */
    if (fmt == NULL || len < 0 || (str == NULL && len > 0)) {
        return -1;
    }
    return vsnprintf(str, (size_t)len, fmt, ap);
}

int HAL_Snprintf(char *str, const int len, const char *fmt, ...)
{
    va_list ap;
    int written;

    va_start(ap, fmt);
    written = HAL_Vsnprintf(str, len, fmt, ap);
    va_end(ap);
    return written;
}

/* 3.2.x headers make HAL_Printf a macro for printf; 3.0.x firmware declares
 * and calls a real function, so one exists too. */
void HAL_Printf(const char *fmt, ...)
{
    va_list ap;

    if (fmt == NULL) {
        return;
    }
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

#ifdef IOTKIT_SDK
int iotkit_raise_state_event(int event, int state_code, const char *message);
int iotx_state_event(const int event, const int state_code, const char *fmt, ...);

/* Longer messages are cut here; state messages are one sentence. */
#define IOTKIT_STATE_MESSAGE_MAX 512

int iotx_state_event(const int event, const int state_code, const char *fmt, ...)
{
    char message[IOTKIT_STATE_MESSAGE_MAX];
    va_list ap;

    message[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
    }
    return iotkit_raise_state_event(event, state_code, message);
}
#endif
