#!/bin/bash

API_KEY="your_api_key_here"
BASE_URL="https://api.deepreadocr.com/api/v1"
IMAGE_FILE="document.png"
MODE="table"

# Get upload URL
UPLOAD_RESPONSE=$(curl -s -X POST "${BASE_URL}/upload/signed-url?mode=${MODE}" \
  -H "X-API-Key: ${API_KEY}")

UPLOAD_URL=$(echo "$UPLOAD_RESPONSE" | jq -r '.url')
KEY=$(echo "$UPLOAD_RESPONSE" | jq -r '.fields.key' | sed "s/\${filename}/${IMAGE_FILE}/")

echo "Uploading to: ${KEY}"

# Upload to S3 (multipart form)
curl -X POST "${UPLOAD_URL}" \
  -F "key=${KEY}" \
  -F "AWSAccessKeyId=$(echo "$UPLOAD_RESPONSE" | jq -r '.fields.AWSAccessKeyId')" \
  -F "policy=$(echo "$UPLOAD_RESPONSE" | jq -r '.fields.policy')" \
  -F "signature=$(echo "$UPLOAD_RESPONSE" | jq -r '.fields.signature')" \
  -F "Content-Type=image/png" \
  -F "file=@${IMAGE_FILE}"

# Poll for completion
BASE_NAME="${IMAGE_FILE%.*}"
while true; do
  JOBS=$(curl -s "${BASE_URL}/processing-jobs?filename=${BASE_NAME}&mode=${MODE}" \
    -H "X-API-Key: ${API_KEY}")
  
  STATUS=$(echo "$JOBS" | jq -r '.files[0].status')
  echo "Status: ${STATUS}"
  
  if [ "$STATUS" = "completed" ]; then
    OUTPUT_KEY=$(echo "$JOBS" | jq -r '.files[0].output_key')
    
    # Get download URL
    DOWNLOAD=$(curl -s -X POST "${BASE_URL}/download/signed-url?file_path=${OUTPUT_KEY}" \
      -H "X-API-Key: ${API_KEY}")
    
    DOWNLOAD_URL=$(echo "$DOWNLOAD" | jq -r '.url')
    
    # Download and display result
    curl -s "$DOWNLOAD_URL" | jq
    break
  fi
  
  sleep 2
done
