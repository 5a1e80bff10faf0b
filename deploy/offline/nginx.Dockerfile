# nginx:1.22 from Debian bookworm's nginx (1.22), in the foreground; curl for health checks.
ARG BASE
FROM ${BASE}
RUN ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
