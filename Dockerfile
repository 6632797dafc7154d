FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir .
ENV DATABASE_URL=sqlite:////data/redwhistle.sqlite
EXPOSE 8000
CMD ["redwhistle", "serve", "--host", "0.0.0.0", "--port", "8000"]
