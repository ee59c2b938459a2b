import requests
import time
from pathlib import Path

class DeepReadOCR:
    def __init__(self, api_key, base_url="https://api.deepreadocr.com/api/v1"):
        self.api_key = api_key
        self.base_url = base_url
        self.headers = {"X-API-Key": api_key}
    
    def list_modes(self):
        """List available OCR modes."""
        response = requests.get(f"{self.base_url}/ocr-modes", headers=self.headers)
        response.raise_for_status()
        return response.json()
    
    def process_image(self, image_path, mode="ocr", poll_interval=2):
        """Process an image with OCR and return results."""
        filename = Path(image_path).name
        content_type = self._get_content_type(Path(image_path).suffix)
        
        # Step 1: Get upload URL
        response = requests.post(
            f"{self.base_url}/upload/signed-url",
            headers=self.headers,
            params={"mode": mode}
        )
        response.raise_for_status()
        upload_data = response.json()
        
        # Step 2: Upload to S3
        with open(image_path, "rb") as f:
            form_data = upload_data['fields'].copy()
            # Replace placeholder in key
            key = form_data.get('key', '').replace('${filename}', filename)
            form_data['key'] = key
            form_data['Content-Type'] = content_type
            
            requests.post(
                upload_data['url'],
                data=form_data,
                files={'file': (filename, f, content_type)}
            )
        
        # Step 3: Poll for completion
        base_name = filename.rsplit('.', 1)[0]
        while True:
            response = requests.get(
                f"{self.base_url}/processing-jobs",
                headers=self.headers,
                params={"filename": base_name, "mode": mode}
            )
            jobs = response.json()
            
            # Find our job
            for job in jobs['files']:
                if job['status'] == 'completed' and job['output_key']:
                    # Step 4: Download result
                    dl_resp = requests.post(
                        f"{self.base_url}/download/signed-url",
                        headers=self.headers,
                        params={"file_path": job['output_key']}
                    )
                    download_url = dl_resp.json()['url']
                    result = requests.get(download_url).json()
                    return result
            
            time.sleep(poll_interval)
    
    def _get_content_type(self, extension):
        types = {
            ".png": "image/png",
            ".jpg": "image/jpeg",
            ".jpeg": "image/jpeg",
            ".bmp": "image/bmp",
            ".pdf": "application/pdf"
        }
        return types.get(extension.lower(), "application/octet-stream")

# Usage
ocr = DeepReadOCR(api_key="your_api_key_here")

# List modes
modes = ocr.list_modes()
print("Available modes:", [m["name"] for m in modes])

# Process an image
result = ocr.process_image("document.png", mode="table")
print("Mode used:", result["mode"])
print("Extracted text:", result["extracted_text"])
print("Tokens:", result["usage"]["total_tokens"])
