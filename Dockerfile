# Banter in a container: a static-ish release build on Debian, run as an unprivileged user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin banter

FROM debian:bookworm-slim
RUN useradd --system --home /data --create-home banter
COPY --from=build /src/target/release/banter /usr/local/bin/banter
USER banter
WORKDIR /data
ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=6s CMD ["banter", "healthcheck"]
CMD ["banter", "serve"]
