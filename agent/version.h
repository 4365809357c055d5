#ifndef JFE_VERSION_H
#define JFE_VERSION_H
#define JFE_VERSION "0.1.0"
#endif
